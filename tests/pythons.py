"""The CPython 3.10-3.13 interpreters on this machine, found as scripts/pythons.sh finds them.

``GOMPX_PYTHONS`` (colon-separated paths) names them outright; otherwise each
``python3.X`` under ``$(pyenv root)/versions`` (``pyenv`` on PATH, else ``$PYENV_ROOT``,
else ``~/.pyenv``), else ``python3.X`` on PATH resolved to the interpreter it runs (a pyenv
shim adds ~0.5 s to every process start).  Tests that need one skip with a reason naming
where they looked; pytest.ini's ``-rs`` puts the reason in the summary.
"""

import glob
import os
import shutil
import subprocess

__all__ = ["find_pythons", "where"]


def where():
    """Where find_pythons() looks, for a skip's reason."""
    if os.environ.get("GOMPX_PYTHONS"):
        return "GOMPX_PYTHONS=%s" % os.environ["GOMPX_PYTHONS"]
    return "python3.X under %s/versions and on PATH; or set GOMPX_PYTHONS" % _pyenv_root()


def _pyenv_root():
    pyenv = shutil.which("pyenv")
    if pyenv:
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


def _version_and_executable(path):
    """("3.X", the interpreter's own sys.executable), or None if *path* runs no Python."""
    try:
        done = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2]); "
                               "print(sys.executable)"], capture_output=True, text=True,
                              timeout=30)
    except OSError:
        return None
    lines = done.stdout.split()
    return (lines[0], lines[1]) if done.returncode == 0 and len(lines) == 2 else None


def find_pythons():
    """{"3.X": path} for each CPython 3.10-3.13 found (one per version, the first found)."""
    wanted = ["3.%d" % minor for minor in (10, 11, 12, 13)]
    if os.environ.get("GOMPX_PYTHONS"):
        candidates = [p for p in os.environ["GOMPX_PYTHONS"].split(":") if p]
    else:
        root = _pyenv_root()
        candidates = []
        for version in wanted:
            candidates += sorted(glob.glob(os.path.join(root, "versions", version + ".*", "bin",
                                                        "python" + version)))
            on_path = shutil.which("python" + version)
            if on_path:
                candidates.append(on_path)
    found = {}
    for path in candidates:
        got = _version_and_executable(path)
        if got is None or got[0] not in wanted or got[0] in found:
            continue
        # a pyenv shim names itself; run the interpreter behind it instead
        found[got[0]] = path if "/shims/" not in path else got[1]
    return found
