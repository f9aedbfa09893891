"""gompx.goworkers: Python maps data over Go functions served by gompx/goserve programs.

gompx only (stdlib has no equivalent).  The Go worker programs are built once per session
with ``go build``: tests/goworker (one function per outcome) and the example
examples/python_calls_go.  The other direction (Go calling Python) is tested in Go
(gompx/pyworker); test_example_go_calls_python runs its example from here.
"""

import hashlib
import itertools
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from gompx.goworkers import GoError, GoPool, WorkerExitedError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _go_build(package, out):
    # Where Go is not installed (scripts/wheels.sh tests a wheel so), the programs come
    # prebuilt: GOMPX_TEST_GOBINS is a folder holding them under out's name.
    prebuilt = os.environ.get("GOMPX_TEST_GOBINS")
    if prebuilt:
        path = os.path.join(prebuilt, os.path.basename(out))
        if not os.access(path, os.X_OK):
            pytest.fail("GOMPX_TEST_GOBINS=%s has no program %s (go build -o %s %s)"
                        % (prebuilt, os.path.basename(out), path, package))
        return path
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain on PATH: the Go worker programs cannot be built "
                    "(or set GOMPX_TEST_GOBINS to a folder with them built)")
    subprocess.run([go, "build", "-o", out, package], cwd=ROOT, check=True)
    return out


@pytest.fixture(scope="session")
def worker_bin(tmp_path_factory):
    return _go_build("./tests/goworker", str(tmp_path_factory.mktemp("go") / "goworker"))


@pytest.fixture(scope="session")
def example_bin(tmp_path_factory):
    return _go_build("./examples/python_calls_go",
                     str(tmp_path_factory.mktemp("go") / "wordworker"))


@pytest.fixture
def pool(worker_bin):
    with GoPool(worker_bin, processes=2) as p:
        yield p


def test_call_round_trips_python_values(pool):
    assert pool.functions[:3] == ("add", "echo", "fail")
    assert pool.call("add", 1, 2, 39) == 42
    assert pool.apply("add", (2, 3)) == 5
    values = (None, True, 7, -2**70, 1.5, 2 + 3j, "héllo", b"\x00\xff", bytearray(b"ba"),
              [1, [2]], (1, "t"), {"k": [1], 3: None}, {1, 2}, frozenset({"f"}))
    assert pool.call("echo", *values) == list(values)


def test_map_matches_python(example_bin):
    items = [os.urandom(n) for n in range(0, 400, 3)]
    want = [hashlib.sha256(b).hexdigest() for b in items]
    with GoPool(example_bin, processes=2) as pool:
        for chunksize in (None, 1, 7, 1000):
            assert pool.map("sha256", items, chunksize) == want
        assert pool.map("sha256", []) == []
        assert pool.call("wordcount", "b a b") == {"a": 1, "b": 2}


def test_starmap_and_imap(pool):
    assert pool.starmap("add", [(1, 2), (3,), ()], chunksize=2) == [3, 3, 0]
    assert list(pool.imap("add", range(25), chunksize=4)) == list(range(25))
    # imap is lazy: an endless iterable is fine.
    first = list(itertools.islice(pool.imap("add", itertools.count()), 30))
    assert first == list(range(30))


def test_large_payload(pool):
    blob = os.urandom(8 << 20)
    assert pool.call("length", blob) == len(blob)
    assert pool.call("echo", blob) == [blob]


def test_go_errors(pool):
    with pytest.raises(GoError, match="failed on purpose") as info:
        pool.call("fail")
    assert (info.value.kind, info.value.function, info.value.index) == ("error", "fail", None)
    with pytest.raises(GoError, match="deliberate panic") as info:
        pool.call("panic")
    assert info.value.kind == "panic" and "goroutine" in info.value.stack
    with pytest.raises(GoError) as info:
        pool.call("unencodable")
    assert info.value.kind == "encode" and "chan" in str(info.value)
    with pytest.raises(GoError, match="is not an int"):
        pool.call("add", "x")
    for chunksize in (1, 4, 100):
        with pytest.raises(GoError, match="item 13 is the bad one") as info:
            pool.starmap("fail_on", [(i, 13) for i in range(30)], chunksize)
        assert info.value.index == 13
    assert pool.call("add", 1) == 1  # the workers are fine


def test_unknown_function_name(pool):
    with pytest.raises(ValueError, match="no Go function named 'nope'.*add, echo"):
        pool.call("nope")
    with pytest.raises(ValueError, match="nope"):
        pool.map("nope", [1])


def test_crashed_worker_raises_and_is_replaced(pool):
    with pytest.raises(WorkerExitedError, match="exited with code 3") as info:
        pool.call("exit", 3)
    assert info.value.exitcode == 3
    assert pool.call("add", 2, 2) == 4
    deadline = time.monotonic() + 10
    while (len(pool.pids) != 2 or info.value.pid in pool.pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(pool.pids) == 2 and info.value.pid not in pool.pids


def test_worker_killed_during_call(worker_bin):
    with GoPool(worker_bin, processes=1) as pool:
        victim = pool.pids[0]
        threading.Timer(0.3, os.kill, (victim, signal.SIGKILL)).start()
        with pytest.raises(WorkerExitedError) as info:
            pool.call("sleep", 30.0)
        assert info.value.exitcode == -signal.SIGKILL and info.value.pid == victim
        assert pool.call("pid") != victim


def test_threads_call_concurrently(pool):
    errors = []

    def worker(k):
        try:
            for i in range(50):
                assert pool.call("add", k, i) == k + i
        except BaseException as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_close_lets_queued_calls_finish(worker_bin):
    pool = GoPool(worker_bin, processes=1)
    results = []
    t = threading.Thread(target=lambda: results.append(pool.map("sleep", [0.1] * 3, 1)))
    t.start()
    time.sleep(0.05)
    pool.close()
    t.join()
    assert len(results) == 1 and len(results[0]) == 3
    with pytest.raises(ValueError, match="Pool not running"):
        pool.call("add")
    assert pool.join(timeout=10)
    assert pool.pids == []


def test_terminate_fails_running_calls(worker_bin):
    pool = GoPool(worker_bin, processes=1)
    outcome = []

    def call():
        try:
            pool.call("sleep", 30.0)
        except Exception as e:
            outcome.append(e)
    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.3)
    start = time.monotonic()
    pool.terminate()
    t.join(10)
    assert time.monotonic() - start < 5
    assert len(outcome) == 1 and "terminated" in str(outcome[0])
    with pytest.raises(ValueError):
        pool.call("add")


def test_join_while_running_and_context_manager(worker_bin):
    with GoPool(worker_bin, processes=1) as pool:
        with pytest.raises(ValueError, match="still running"):
            pool.join()
        pids = pool.pids
    assert pool.join(timeout=5)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_bad_worker_programs(tmp_path):
    with pytest.raises(FileNotFoundError):
        GoPool(str(tmp_path / "missing"), processes=1)
    with pytest.raises(OSError, match="exited with code 0 before its hello"):
        GoPool("/bin/true", processes=1)
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexec sleep 30\n")
    silent.chmod(silent.stat().st_mode | stat.S_IXUSR)
    start = time.monotonic()
    with pytest.raises(OSError, match="no hello within"):
        GoPool(str(silent), processes=1, start_timeout=0.3)
    assert time.monotonic() - start < 5
    with pytest.raises(ValueError):
        GoPool("/bin/true", processes=0)


def test_example_python_calls_go(example_bin):
    program = os.path.join(ROOT, "examples/python_calls_go/map_words.py")
    out = subprocess.run([sys.executable, program, example_bin], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "functions: sha256, wordcount" in out.stdout
    assert "most common: [('the', 4)" in out.stdout
    assert "GoError: sha256 wants bytes or str, got int64" in out.stdout


def test_example_go_calls_python(tmp_path):
    binary = _go_build("./examples/go_calls_python", str(tmp_path / "gocallspy"))
    out = subprocess.run([binary, "-python", sys.executable,
                          "-dir", os.path.join(ROOT, "examples/go_calls_python")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "statistics.mean: 3.875" in out.stdout
    assert "top_words: [[the 3] [and 2]]" in out.stdout
    assert "exception: builtins.ZeroDivisionError: division by zero" in out.stdout
    assert "in ratio" in out.stdout


CTRL_C = r'''
import os, signal, sys, threading, time
from gompx.goworkers import GoPool

def interrupt_after(seconds):
    threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT)).start()

worker, silent = sys.argv[1], sys.argv[2]
t0 = time.monotonic()
interrupt_after(0.3)
try:
    GoPool(silent, processes=1, start_timeout=30)
except KeyboardInterrupt:
    print("start interrupted after %.1f s" % (time.monotonic() - t0))
with GoPool(worker, processes=1) as pool:
    t0 = time.monotonic()
    interrupt_after(0.3)
    try:
        pool.call("sleep", 30.0)
    except KeyboardInterrupt:
        print("call interrupted after %.1f s" % (time.monotonic() - t0))
    print("still works:", pool.call("add", 20, 22))
'''


def test_ctrl_c_interrupts_start_and_call(worker_bin, tmp_path):
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexec sleep 30\n")
    silent.chmod(silent.stat().st_mode | stat.S_IXUSR)
    out = subprocess.run([sys.executable, "-c", CTRL_C, worker_bin, str(silent)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("start interrupted after 0.")
    assert lines[1].startswith("call interrupted after 0.")
    assert lines[2] == "still works: 42"
