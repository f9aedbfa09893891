"""``python -m gompx``: unmodified programs run with multiprocessing served by gompx.

Each program in doc_examples/ (the documentation's examples, and concurrent.futures')
runs twice, as ``python PROG`` (stdlib) and as ``python -m gompx PROG``, and must print
the same.  Not parametrized by ``mp``: each test runs both sides itself.
"""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "doc_examples")
LIMIT = 120  # seconds: a hang fails the test instead of stalling the run

# Output lines that name the implementation: the check that gompx served the program.
SERVED_BY = "import multiprocessing, concurrent.futures.process as p; " \
            "print(multiprocessing.__name__, p.ProcessPoolExecutor.__module__)"


def run(*args, cwd=EXAMPLES):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=LIMIT)


@pytest.mark.parametrize("program", ["pool_map.py", "process_names.py", "queue_pipe.py",
                                     "shared_state.py", "pool_methods.py",
                                     "futures_primes.py"])
def test_program_prints_the_same_as_under_stdlib(program):
    stdlib = run(program)
    gompx = run("-m", "gompx", program)
    assert stdlib.returncode == 0, stdlib.stderr
    assert gompx.returncode == 0, gompx.stderr
    assert gompx.stdout == stdlib.stdout
    assert gompx.stderr == ""


def test_multiprocessing_is_gompx_in_the_program_and_its_children(tmp_path):
    prog = tmp_path / "served.py"
    prog.write_text(
        "import multiprocessing, sys\n"
        "def where(_):\n"
        "    import concurrent.futures.process as p\n"
        "    return multiprocessing.__name__, p.ProcessPoolExecutor.__module__\n"
        "if __name__ == '__main__':\n"
        "    with multiprocessing.Pool(1) as pool:\n"
        "        print(where(0), pool.map(where, [0])[0], sys.argv[1:])\n")
    result = run("-m", "gompx", str(prog), "a", "b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "('gompx', 'gompx.futures') ('gompx', 'gompx.futures') ['a', 'b']")


def test_dash_m_runs_a_module(tmp_path):
    (tmp_path / "mymod.py").write_text(
        "import multiprocessing\n"
        "def double(x):\n"
        "    return 2 * x\n"
        "if __name__ == '__main__':\n"
        "    with multiprocessing.Pool(2) as pool:\n"
        "        print(multiprocessing.__name__, pool.map(double, [1, 2]))\n")
    result = run("-m", "gompx", "-m", "mymod", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gompx [2, 4]"


def test_version_and_usage():
    version = run("-m", "gompx", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("gompx ") and "start method spawn" in version.stdout
    usage = run("-m", "gompx")
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_version_names_the_installed_release_and_the_go_build():
    # The version has one source (gompx/__init__.py, read by pyproject at build time):
    # the installed distribution's metadata and the module must agree.
    code = ("import importlib.metadata as m, gompx; "
            "print(m.version('gompx')); print(gompx.__version__)")
    meta = run("-c", code)
    assert meta.returncode == 0, meta.stderr
    dist_version, module_version = meta.stdout.split()
    assert dist_version == module_version
    lines = run("-m", "gompx", "--version").stdout.splitlines()
    assert lines[0] == "gompx %s (Python %s, start method spawn)" % (
        module_version, "%d.%d.%d" % sys.version_info[:3])
    go = re.fullmatch(r"Go core built with (go1\.\d+\S*) linux/(\w+): "
                      r"module github\.com/gompx/gompx (\S+)(, git \w{12}( \(modified\))?)?, "
                      r"CGO_ENABLED=1", lines[1])
    assert go, lines


def test_version_shows_the_vcs_stamp_when_go_recorded_one():
    # Builds from a git checkout with Go's VCS stamping on carry these fields.
    from gompx.__main__ import _describe_build
    info = {"go": "go1.26.8", "goos": "linux", "goarch": "amd64",
            "path": "github.com/gompx/gompx", "version": "v0.1.1-0.20261207", "vcs": "git",
            "vcs.revision": "2bda4f9a1b2c3d4e5f", "vcs.modified": "true", "CGO_ENABLED": "1"}
    assert _describe_build(info) == (
        "Go core built with go1.26.8 linux/amd64: module github.com/gompx/gompx "
        "v0.1.1-0.20261207, git 2bda4f9a1b2c (modified), CGO_ENABLED=1")


def test_starting_a_process_while_importing_main_raises_the_bootstrapping_error():
    # stdlib's Pool respawns the failing worker forever here; gompx's breaks instead.
    result = run("-m", "gompx", "no_main_guard.py")
    assert "current process has finished its bootstrapping phase" in result.stderr
    assert result.returncode != 0


def test_children_find_gompx_whatever_the_interpreter_flags(tmp_path):
    # -E -S -O: no PYTHONPATH, no site-packages; the child must still import gompx.
    import gompx
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(gompx.__file__)))
    prog = ("import sys; sys.path.insert(0, %r)\n"
            "import gompx\n"
            "def flags(conn):\n"
            "    conn.send(tuple(sys.flags))\n"
            "if __name__ == '__main__':\n"
            "    r, w = gompx.Pipe(duplex=False)\n"
            "    p = gompx.Process(target=flags, args=(w,))\n"
            "    p.start()\n"
            "    print(r.recv() == tuple(sys.flags))\n"
            "    p.join()\n" % package_parent)
    script = tmp_path / "flags.py"
    script.write_text(prog)
    result = run("-E", "-S", "-O", str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
