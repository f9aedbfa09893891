"""``python -m gompx``: run an unmodified program with ``multiprocessing`` served by gompx.

    python -m gompx PROGRAM.py [ARGS...]
    python -m gompx -m MODULE [ARGS...]
    python -m gompx --version

The program sees ``sys.argv`` as it would under ``python PROGRAM.py ARGS`` and its
``__name__`` is ``"__main__"``; ``import multiprocessing`` (and everything built on it,
``concurrent.futures.ProcessPoolExecutor`` included) gets gompx, here and in every child.
"""

import os
import runpy
import sys

__all__ = ["main"]

_USAGE = ("usage: python -m gompx PROGRAM.py [ARGS...]\n"
          "       python -m gompx -m MODULE [ARGS...]\n"
          "       python -m gompx --version\n")


def _version():
    import json

    import gompx
    from gompx import _native
    info = json.loads(_native.call(_native.ext.gompxcore_BuildInfo))
    return "gompx %s (Python %s, start method %s)\n%s" % (
        gompx.__version__, sys.version.split()[0], gompx.get_start_method(),
        _describe_build(info))


def _describe_build(info):
    """One line from the Go core's build info (gompxcore.BuildInfo's JSON, decoded)."""
    vcs = ""
    if info.get("vcs.revision"):  # absent from sdist builds and under -buildvcs=false
        vcs = ", %s %s%s" % (info.get("vcs", "vcs"), info["vcs.revision"][:12],
                             " (modified)" if info.get("vcs.modified") == "true" else "")
    return "Go core built with %s %s/%s: module %s %s%s, CGO_ENABLED=%s" % (
        info["go"], info["goos"], info["goarch"], info["path"], info["version"], vcs,
        info.get("CGO_ENABLED", "?"))


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(_USAGE) if argv else sys.stderr.write(_USAGE)
        return 0 if argv else 2
    if argv[0] == "--version":
        print(_version())
        return 0
    from gompx import _alias
    _alias.install()
    if argv[0] == "-m":
        if len(argv) < 2:
            sys.stderr.write("python -m gompx: -m needs a module name\n" + _USAGE)
            return 2
        sys.argv = argv[1:]
        # sys.path[0] is already what `python -m MODULE` puts there (the current folder,
        # or nothing under -P/-I).
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    program = argv[0]
    sys.argv = argv
    # As `python PROGRAM.py` does: the program's folder replaces ours on sys.path.
    if not (getattr(sys.flags, "safe_path", False) or sys.flags.isolated):
        sys.path[0] = os.path.dirname(os.path.abspath(program))
    runpy.run_path(program, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
