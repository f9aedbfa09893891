"""Serving ``multiprocessing`` with gompx in an unmodified program.

``python -m gompx prog.py`` (see ``gompx.__main__``) calls :func:`install` before the
program runs, and every child it starts calls it again before it unpickles anything, so
``import multiprocessing``, ``import multiprocessing.pool``, ``from multiprocessing import
shared_memory`` and the standard library modules built on them (``concurrent.futures``'
process pool, ``logging``'s process name) all get gompx, in the parent and every child.

The module objects are gompx's own: ``multiprocessing.queues is gompx.queues``, so a class
pickled as ``gompx.queues.Queue`` and one looked up as ``multiprocessing.queues.Queue`` are
one class.
"""

import importlib
import importlib.abc
import importlib.machinery
import sys

__all__ = ["install", "installed"]

_ALIASED = "multiprocessing"

# stdlib modules that import multiprocessing internals gompx does not have; each maps to
# the gompx module that provides the same public API.
_REPLACED = {
    "concurrent.futures.process": "gompx.futures",
}

_installed = False


def installed():
    """Whether this process serves ``multiprocessing`` with gompx."""
    return _installed


class _AliasLoader(importlib.abc.Loader):
    """Loads a name by importing its gompx counterpart and handing back that module."""

    def __init__(self, target):
        self._target = target

    def create_module(self, spec):
        module = importlib.import_module(self._target)
        # The import system stamps the alias's spec on the module it gets; keep gompx's,
        # so that the module keeps one identity (its __spec__.name is what spawn sends).
        self._original_spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._original_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``multiprocessing`` and ``multiprocessing.*`` as ``gompx`` and ``gompx.*``."""

    def find_spec(self, fullname, path=None, target=None):
        target_name = _target_of(fullname)
        if target_name is None:
            return None
        if importlib.util.find_spec(target_name) is None:
            return None  # a name gompx does not have: ModuleNotFoundError, as usual
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(target_name))


def _target_of(fullname):
    if fullname in _REPLACED:
        return _REPLACED[fullname]
    if fullname == _ALIASED:
        return "gompx"
    if fullname.startswith(_ALIASED + "."):
        return "gompx" + fullname[len(_ALIASED):]
    return None


def install():
    """Serve ``multiprocessing`` (and what replaces its stdlib users) with gompx from now on.

    Modules already imported under those names are replaced in ``sys.modules``; modules
    that already hold a reference to the old ones keep it, so call this before the program
    imports anything."""
    global _installed
    if _installed:
        return
    import importlib.util
    sys.meta_path.insert(0, _AliasFinder())
    for name in list(sys.modules):
        target = _target_of(name)
        if target is not None:
            del sys.modules[name]
    _installed = True
    importlib.import_module(_ALIASED)
