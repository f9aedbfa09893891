"""Hostile peers: clients that send truncated, oversized and garbage frames, or hang up
mid-handshake, to a Listener (with and without an authkey), to a manager server, and
records no parent sends to the fork server's control channel.

Each time, the server must keep serving a well-behaved client afterwards, the bad client
must get a clear exception or a closed connection (never a hang: every wait here is
bounded), and an announced length the client never sends must not cost the server that
memory.  stdlib's behaviour is the reference; where gompx differs on purpose (it hangs
or crashes less) the case says so.  Listener servers run in their own interpreter
(``hostile_targets.py``), so that one that crashes or grows shows as such.
"""

import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading

import pytest

import mp_targets as t
from hostile_targets import rss_kb

HERE = os.path.dirname(os.path.abspath(__file__))
WAIT = 30  # seconds any single step may take before the test fails instead of hanging
# How much a server may grow while a client claims a message of 2 GiB or more and
# sends none of it: its own buffers, not the claim.
GROWTH_KB = 64 * 1024


def frame(payload):
    return struct.pack("!i", len(payload)) + payload


# (case, bytes the client sends first, whether it then waits for the server to react)
CASES = [
    ("disconnect", b"", False),
    ("truncated-header", b"\x00\x00", False),
    ("truncated-payload", b"\x00\x00\x00\x64" + b"x" * 10, False),
    ("truncated-long-length", b"\xff\xff\xff\xff\x00\x00", False),
    ("garbage-frame", frame(b"\x80\x04 neither a pickle nor an answer"), False),
    ("negative-length", struct.pack("!i", -5), False),
    ("claim-2GiB", struct.pack("!i", 0x7FFFFFFF), True),
    ("claim-1TiB", struct.pack("!iQ", -1, 1 << 40), True),
]

# What the server's recv_bytes() raises without an authkey, from stdlib (CPython's
# _recv_bytes / _recv): nothing of a part read is EOFError, some of it OSError.
NO_KEY = {
    "disconnect": ("EOFError",),
    "truncated-header": ("OSError",),
    "truncated-payload": ("OSError",),
    "truncated-long-length": ("OSError",),  # 2 of the 8 bytes of the length after -1
    "garbage-frame": (None, "BrokenPipeError", "ConnectionResetError"),  # a message: echoed
    "claim-2GiB": ("EOFError",),  # after the client hangs up, having sent nothing
    "claim-1TiB": ("MemoryError",),
}


class Server:
    """A hostile_targets.py server in its own interpreter, one JSON line per client."""

    def __init__(self, modname, *args):
        env = dict(os.environ, PYTHONPATH=HERE)
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "hostile_targets.py"),
                                      modname, *args], stdout=subprocess.PIPE, text=True,
                                     cwd=HERE, env=env)
        self.address = tuple(self.line())

    def line(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], WAIT)
        assert ready, "server said nothing for %d s (hung?)" % WAIT
        text = self.proc.stdout.readline()
        assert text, "server exited with %s" % self.proc.poll()
        return json.loads(text)

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def close(self):
        self.proc.kill()
        self.proc.wait(WAIT)
        self.proc.stdout.close()


def read_until_closed(sock):
    """What the server sends before it closes the connection; None if it keeps it
    open for WAIT seconds."""
    sock.settimeout(WAIT)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except socket.timeout:
        return None
    except ConnectionResetError:
        return data


def watch_memory(rss, sock, baseline):
    """Sample a server's RSS (rss() in KiB) while the client holds its claim open (a
    bounded number of samples; the claim is for 2 GiB or more, far past the allowed
    growth)."""
    worst = 0
    for _ in range(20):
        worst = max(worst, rss() - baseline)
        ready, _, _ = select.select([sock], [], [], 0.05)
        if ready:
            break  # the server reacted: it closed the connection
    return worst


def good_client(mpconn, server, authkey):
    with mpconn.Client(server.address, authkey=authkey) as c:
        c.send_bytes(b"ping")
        assert c.poll(WAIT)
        assert c.recv_bytes() == b"ping"
    assert server.line()["where"] == "served"


@pytest.mark.parametrize("case,data,hold", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("authkey", [None, b"hostile"], ids=["no-key", "key"])
def test_listener_survives_bad_client(mp, mpconn, impl, modname, case, data, hold, authkey):
    server = Server(modname, "listener", "-" if authkey is None else authkey.decode())
    try:
        good_client(mpconn, server, authkey)
        baseline = server.rss_kb()
        sock = socket.create_connection(server.address, timeout=WAIT)
        sock.sendall(data)
        growth = 0
        if hold:
            growth = watch_memory(server.rss_kb, sock, baseline)
            sent = read_until_closed(sock) if authkey is not None else None
        sock.close()
        bad = server.line()
        assert growth < GROWTH_KB, "server grew by %d KiB for an unsent claim" % growth
        if authkey is not None:
            # The handshake fails in accept() with a clear exception, the connection
            # is closed, and a claim longer than any handshake message is refused at
            # once (stdlib: recv_bytes(256)), without reading it.
            assert bad["where"] == "accept", bad
            assert bad["type"] in ("AuthenticationError", "EOFError", "OSError", "BrokenPipeError",
                                   "ConnectionResetError"), bad
            if hold:
                assert sent is not None, "the server kept a refused handshake open"
                assert bad["type"] == "OSError" and "bad message length" in bad["message"], bad
        elif case == "negative-length":
            # stdlib reads a negative length as an empty message (and is out of step
            # with the peer from there on); gompx refuses the frame.
            want = ("OSError",) if impl == "gompx" else (None,)
            assert bad["type"] in want, bad
        else:
            assert bad["type"] in NO_KEY[case], bad
        good_client(mpconn, server, authkey)
    finally:
        server.close()


@pytest.mark.parametrize("maxlength", [10, 1 << 20])
def test_refused_claim_raises_at_once(mp, mpconn, impl, maxlength):
    """recv_bytes(maxlength) refuses a longer announced message without waiting for its
    bytes (a client that announces 2 GiB and sends nothing must not hold the call)."""
    with mpconn.Listener(("127.0.0.1", 0)) as listener:
        sock = socket.create_connection(listener.address, timeout=WAIT)
        # Bounds the test if the refusal waits for the bytes: the client then hangs up.
        bound = threading.Timer(WAIT, sock.shutdown, args=(socket.SHUT_RDWR,))
        bound.start()
        try:
            with listener.accept() as conn:
                sock.sendall(struct.pack("!i", 0x7FFFFFFF))
                assert conn.poll(WAIT)
                with pytest.raises(OSError, match="bad message length"):
                    conn.recv_bytes(maxlength)
                assert bound.is_alive(), "the refusal waited for the client to hang up"
        finally:
            bound.cancel()
            sock.close()


# -- managers ----------------------------------------------------------------------------


def manager_rss_kb(manager):
    return rss_kb(manager._process.pid)


@pytest.mark.parametrize("case,data,hold", CASES, ids=[c[0] for c in CASES])
def test_manager_survives_bad_client(mp, ctx, case, data, hold):
    with ctx.Manager() as manager:
        before = manager.dict(a=1)  # a proxy on a connection made before the bad client
        baseline = manager_rss_kb(manager)
        family = socket.AF_UNIX if isinstance(manager.address, str) else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(WAIT)
        sock.connect(manager.address)
        sock.sendall(data)
        if hold:
            growth = watch_memory(lambda: manager_rss_kb(manager), sock, baseline)
            assert growth < GROWTH_KB, "manager grew by %d KiB for an unsent claim" % growth
            # The handshake refuses a claim longer than 256 bytes at once and closes.
            assert read_until_closed(sock) is not None, "manager kept a refused handshake open"
        sock.close()
        # Served as before: the old connection, a new proxy, and a second bad client's
        # connection left dangling mid-handshake does not hold up the others either.
        dangling = socket.socket(family, socket.SOCK_STREAM)
        dangling.connect(manager.address)
        try:
            assert before["a"] == 1
            after = manager.list(range(3))
            after.append(3)
            assert list(after) == [0, 1, 2, 3]
        finally:
            dangling.close()


# -- the fork server ---------------------------------------------------------------------

# Records no parent sends on gompx's control channel: (case, payload, how many fds).
BAD_RECORDS = [
    ("empty", b"", 0),
    ("truncated", b"F", 0),
    ("no-channel", b"F" + struct.pack(">q", 0), 0),
    ("wrong-kind", b"X" + struct.pack(">q", 0), 1),
    ("negative-grace", b"F" + struct.pack(">q", -1), 1),
    ("oversized", b"F" * 4096, 2),
    ("garbage", os.urandom(9), 3),
]


@pytest.mark.gompx_only
def test_fork_server_survives_bad_records(mp):
    """gompx's control channel is a socketpair only the parent holds: these records come
    from a buggy parent, not a stranger.  The server drops each and serves on: the same
    server starts the next child, and the one it runs keeps its exit code (a server that
    died of a record would lose it, as stdlib's does below)."""
    from gompx import forkserver
    ctx = mp.get_context("forkserver")
    go_r, go_w = ctx.Pipe(duplex=False)
    running = ctx.Process(target=t.wait_for_go, args=(go_r,))
    running.start()
    server = forkserver._forkserver
    server_pid = server._forkserver_pid
    with open(os.devnull, "rb") as devnull:
        for case, payload, nfds in BAD_RECORDS:
            fds = [os.dup(devnull.fileno()) for _ in range(nfds)]
            try:
                with server._lock:
                    socket.send_fds(server._control, [payload], fds)
            finally:
                for fd in fds:
                    os.close(fd)
    ok = ctx.Process(target=t.noop)
    ok.start()
    ok.join(WAIT)
    assert ok.exitcode == 0
    assert server._forkserver_pid == server_pid, "the fork server was restarted"
    assert running.is_alive()
    go_w.send("go")
    running.join(WAIT)
    assert running.exitcode == 0


def process_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rpartition(")")[2].split()[0]


def test_fork_server_survives_bad_client(mp, impl):
    """stdlib's fork server listens on a socket file any process of the user can reach,
    and a client that sends garbage kills it (recvfds raises): stdlib crashes, so gompx
    must do better.  gompx's has no address to reach (its control channel is a
    socketpair; see test_fork_server_survives_bad_records for what its parent might
    send), so there the server is the same one throughout.  After it, the next child
    starts and the running one lives on."""
    ctx = mp.get_context("forkserver")
    go_r, go_w = ctx.Pipe(duplex=False)
    running = ctx.Process(target=t.wait_for_go, args=(go_r,))
    running.start()
    if impl == "stdlib":
        from multiprocessing import forkserver
        pid = forkserver._forkserver._forkserver_pid
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(WAIT)
            s.connect(forkserver._forkserver._forkserver_address)
            s.sendall(b"garbage")
        for _ in range(WAIT * 20):  # bounded: until the server has died of it
            if process_state(pid) == "Z":
                break
            select.select([], [], [], 0.05)
        assert process_state(pid) == "Z", "stdlib's fork server survived a garbage client"
    else:
        from gompx import forkserver
        pid = forkserver._forkserver._forkserver_pid
    ok = ctx.Process(target=t.noop)
    ok.start()
    ok.join(WAIT)
    assert ok.exitcode == 0
    if impl == "gompx":
        assert forkserver._forkserver._forkserver_pid == pid
        assert running.is_alive()
        go_w.send("go")
        running.join(WAIT)
        assert running.exitcode == 0
    else:
        # The dead server took the running child's exit status with it: the parent
        # reports 255 while the child runs on, untracked.
        running.join(WAIT)
        assert running.exitcode == 255
        go_w.send("go")


# -- a peer that stalls inside a message -------------------------------------------------

STALL_SCRIPT = """
import os, signal, socket, struct, threading
from {mod} import connection

listener = connection.Listener(("127.0.0.1", 0){listener_args})
peer = socket.create_connection(listener.address)
{before}
peer.sendall(struct.pack("!i", 100) + b"abc")  # 3 of 100 bytes, then nothing
hung_up = []
def hang_up():
    hung_up.append(True)
    peer.shutdown(socket.SHUT_RDWR)
bound = threading.Timer({wait}, hang_up)  # bounds the test if Ctrl-C does not get through
bound.start()
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    {stalled_call}
    outcome = "returned"
except KeyboardInterrupt:
    outcome = "KeyboardInterrupt"
except Exception as e:
    outcome = type(e).__name__
print(outcome, "after-hang-up" if hung_up else "peer-still-there", flush=True)
if {check_stream} and not hung_up:
    peer.sendall(b"x" * 97 + struct.pack("!i", 4) + b"next")
    print(conn.recv_bytes().decode(), flush=True)
bound.cancel()
"""


def run_stalled(run_script, modname, in_handshake, check_stream=False):
    """Run STALL_SCRIPT: a peer stalls mid-message in recv_bytes() on an accepted
    connection, or (in_handshake) in accept()'s handshake; its words, split."""
    if in_handshake:
        script = STALL_SCRIPT.format(mod=modname, wait=WAIT, listener_args=", authkey=b'key'",
                                     before="", stalled_call="listener.accept()",
                                     check_stream=False)
    else:
        script = STALL_SCRIPT.format(mod=modname, wait=WAIT, listener_args="",
                                     before="conn = listener.accept()",
                                     stalled_call="conn.recv_bytes()", check_stream=check_stream)
    proc = run_script(script, timeout=2 * WAIT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_ctrl_c_interrupts_a_peer_stalled_mid_message(run_script, impl, modname):
    """A peer that sends part of a message and stalls must not keep Ctrl-C from the
    receiving interpreter (stdlib's os.read gives way: PEP 475).  gompx then skips the
    rest of that message, so the next one arrives in step (stdlib is out of step)."""
    words = run_stalled(run_script, modname, False, check_stream=impl == "gompx")
    assert words[:2] == ["KeyboardInterrupt", "peer-still-there"], words
    if impl == "gompx":
        assert words[2] == "next", words


def test_ctrl_c_interrupts_a_handshake_stalled_mid_message(run_script, modname):
    """The same inside accept()'s handshake (an answer cut short): the core's handshake
    resumes after the handlers ran, and Ctrl-C raises out of accept()."""
    words = run_stalled(run_script, modname, True)
    assert words[:2] == ["KeyboardInterrupt", "peer-still-there"], words
