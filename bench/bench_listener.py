"""Listener and Client: gompx against stdlib multiprocessing, side by side.

Cases (ratio = stdlib time / gompx time; above 1, gompx is faster):

1. AF_UNIX round trip     send (1, "x", 2.0) over an accepted connection to a      >= 1.0
                          spawned child's Client, which echoes it back
2. TCP round trip         the same over 127.0.0.1                                  >= 1.0
3. connect+authenticate   a child connects n times with an authkey; the parent     >= 1.0
                          accepts each (both handshakes) and closes it
4. Go <-> Python          the Python side's Client talks to a Go program           >= 1.0
   round trip             (examples/go_accepts_python, built with `go build` at
                          start; skipped without Go): job ("sum", [1, 2, 3]) -> 6

Both implementations use the "spawn" context; the child uses the same implementation's
Client as the parent's Listener. Run with the interpreter's real path::

    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_listener.py           # ~1 min
    ... --quick    --only TCP    --rounds 11    --cpus 0    (see _harness.py)
"""

# Spawned children re-import this module as __mp_main__: keep its top level cheap.
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _targets

HERE = os.path.dirname(os.path.abspath(__file__))

SMALL_OBJECT = (1, "x", 2.0)
AUTHKEY = b"bench-key"


def _round_trip(address):
    def run(mp, n):
        """Seconds per send+recv of a small tuple through an accepted connection."""
        conn_mod = __import__(mp.__name__ + ".connection", fromlist=["Listener"])
        ctx = mp.get_context("spawn")
        with conn_mod.Listener(address, authkey=AUTHKEY) as listener:
            p = ctx.Process(target=_targets.client_echo, daemon=True,
                            args=(mp.__name__, listener.address, AUTHKEY))
            p.start()
            with listener.accept() as conn:
                for _ in range(50):
                    conn.send(SMALL_OBJECT)
                    conn.recv()
                t0 = time.perf_counter()
                for _ in range(n):
                    conn.send(SMALL_OBJECT)
                    got = conn.recv()
                elapsed = time.perf_counter() - t0
                if got != SMALL_OBJECT:
                    raise RuntimeError(f"echo returned {got!r}")
                conn.send(None)
            p.join()
        return elapsed / n
    return run


def connect_authenticate(mp, n):
    """Seconds per connection: connect, both handshakes, close."""
    conn_mod = __import__(mp.__name__ + ".connection", fromlist=["Listener"])
    ctx = mp.get_context("spawn")
    with conn_mod.Listener(authkey=AUTHKEY, backlog=16) as listener:
        p = ctx.Process(target=_targets.client_connect_loop, daemon=True,
                        args=(mp.__name__, listener.address, AUTHKEY, n + 1))
        p.start()
        listener.accept().close()  # the child is up
        t0 = time.perf_counter()
        for _ in range(n):
            listener.accept().close()
        elapsed = time.perf_counter() - t0
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"client child exited with {p.exitcode}")
    return elapsed / n


_go_program = None


def _build_go_program():
    """Build examples/go_accepts_python once; None if there is no Go toolchain."""
    global _go_program
    if _go_program is None:
        out = os.path.join(tempfile.mkdtemp(prefix="gompx-bench-"), "go_accepts_python")
        try:
            subprocess.run(["go", "build", "-o", out, "./examples/go_accepts_python"],
                           cwd=os.path.dirname(HERE), check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"  (Go round trip skipped: cannot build the Go program: {e})")
            _go_program = ""
        else:
            _go_program = out
    return _go_program or None


def go_round_trip(mp, n):
    """Seconds per job round trip between this process's Client and a Go Listener."""
    import ast
    program = _build_go_program()
    if program is None:
        return float("nan")
    conn_mod = __import__(mp.__name__ + ".connection", fromlist=["Client"])
    go = subprocess.Popen([program, "-authkey", AUTHKEY.decode(), "-n", "1"],
                          stdout=subprocess.PIPE, text=True)
    try:
        address = ast.literal_eval(go.stdout.readline())
        job = ("sum", [1, 2, 3])
        with conn_mod.Client(address, authkey=AUTHKEY) as conn:
            for _ in range(50):
                conn.send(job)
                conn.recv()
            t0 = time.perf_counter()
            for _ in range(n):
                conn.send(job)
                got = conn.recv()
            elapsed = time.perf_counter() - t0
            if got != 6:
                raise RuntimeError(f"Go answered {got!r}")
            conn.send(None)
        go.wait(30)
    finally:
        go.kill()
        go.wait()
    return elapsed / n


def cases():
    """The cases of this benchmark, counts calibrated for a 2-core machine."""
    from _harness import Case
    return [
        Case("Listener/Client round trip, AF_UNIX", "µs/round trip", "no slower than stdlib",
             1.0, _round_trip(None), n=20000, quick_n=3000),
        Case("Listener/Client round trip, TCP", "µs/round trip", "no slower than stdlib",
             1.0, _round_trip(("127.0.0.1", 0)), n=20000, quick_n=3000),
        Case("connect + authenticate + close, AF_UNIX", "µs/connection",
             "no slower than stdlib", 1.0, connect_authenticate, n=2000, quick_n=300),
        Case("Go <-> Python round trip (Python Client, Go Listener)", "µs/round trip",
             "no slower than stdlib", 1.0, go_round_trip, n=20000, quick_n=3000),
    ]


if __name__ == "__main__":
    from _harness import main
    raise SystemExit(main(cases(), description=__doc__))
