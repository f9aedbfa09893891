"""What gompx serves of stdlib multiprocessing's public names, module by module.

One rule, used by tests/test_api_parity.py (this interpreter: a name stdlib has and gompx
does not fails, unless api_parity_allowed.txt gives the reason) and by
scripts/api_parity.py (every CPython on the machine: docs/api-parity.md).  A public name
is one in ``dir()`` without a leading underscore that is not a module; gompx may serve it
through a module ``__getattr__``, so presence is ``hasattr``.
"""

import importlib
import os
import types

MODULES = ["", "connection", "context", "dummy", "dummy.connection", "forkserver", "heap",
           "managers", "pool", "popen_fork", "popen_forkserver", "popen_spawn_posix",
           "process", "queues", "reduction", "resource_sharer", "resource_tracker",
           "shared_memory", "sharedctypes", "spawn", "synchronize", "util"]

ALLOWED_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "api_parity_allowed.txt")


def qualified(module, name):
    return (module + "." if module else "") + name


def _import(package, module):
    return importlib.import_module(package + ("." + module if module else ""))


def stdlib_names(module):
    """stdlib's public names in multiprocessing.<module> (empty if it has no such module)."""
    try:
        m = _import("multiprocessing", module)
    except ImportError:
        return []
    return sorted(n for n in dir(m)
                  if not n.startswith("_") and not isinstance(getattr(m, n), types.ModuleType))


def gompx_module(module):
    return _import("gompx", module)


def missing(module):
    """stdlib's public names that gompx.<module> does not have."""
    names = stdlib_names(module)
    if not names:
        return []
    g = gompx_module(module)
    return [n for n in names if not hasattr(g, n)]


def extras(module):
    """gompx.<module>'s public names that stdlib's has not (gompx-only API)."""
    g = gompx_module(module)
    theirs = set(stdlib_names(module))
    return sorted(n for n in dir(g) if not n.startswith("_") and n not in theirs
                  and not isinstance(getattr(g, n), types.ModuleType))


def allowed():
    """qualified name -> the reason gompx does not have it."""
    reasons = {}
    with open(ALLOWED_FILE, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(" -- ")
                if not reason.strip():
                    raise ValueError("%s: %r has no reason" % (ALLOWED_FILE, line))
                reasons[name.strip()] = reason.strip()
    return reasons
