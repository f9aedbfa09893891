"""The Windows ``spawn`` start method, which gompx does not have.

Laid out like CPython's ``multiprocessing/popen_spawn_win32.py``, so that the package has
CPython's map.  gompx's core uses Linux interfaces (memfds, futexes, pidfds) and runs on
Linux only; importing this module anywhere raises ImportError saying so.
"""

__all__ = []  # nothing: importing this module raises

raise ImportError("gompx runs on Linux only: it has no Windows start method "
                  "(popen_spawn_win32)")
