"""gompx: a drop-in alternative to ``multiprocessing`` whose engine is written in Go.

``import gompx as multiprocessing`` and the program runs unchanged.  As in CPython, the
top-level names are the bound methods of the default context; the classes live in the
submodules (``gompx.process``, ``gompx.connection``, ...).  Importing gompx does not load
the Go runtime: that happens on first use, so a fork server can import gompx safely.
"""


from . import context

__version__ = "0.1.0"  # the only copy: pyproject.toml reads it

__all__ = [name for name in dir(context._default_context) if not name.startswith("_")]
globals().update((name, getattr(context._default_context, name)) for name in __all__)

SUBDEBUG = 5
SUBWARNING = 25
