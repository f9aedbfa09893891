"""Listener, Client, deliver_challenge and answer_challenge, against stdlib and gompx."""

import os
import pickle
import signal
import socket
import stat
import struct
import threading
import time

import pytest

import listener_targets

# (address or None, family or None) that each test runs over.
FAMILIES = {
    "unix-default": (None, None),
    "unix-abstract": ("\0gompx-test-%d-%%d" % os.getpid(), None),
    "inet": (("127.0.0.1", 0), None),
    "inet-default": (None, "AF_INET"),
}
_counter = iter(range(1 << 30))


def listener_args(kind):
    address, family = FAMILIES[kind]
    if isinstance(address, str) and "%d" in address:
        address = address % next(_counter)
    return address, family


class Peer(threading.Thread):
    """Runs fn in a thread and keeps its result or exception."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args, self.result, self.error = fn, args, None, None
        self.start()

    def run(self):
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:
            self.error = e

    def outcome(self, timeout=10):
        self.join(timeout)
        assert not self.is_alive(), "peer thread still running"
        if self.error is not None:
            raise self.error
        return self.result


def client_exchange(mpconn, address, authkey, payload):
    with mpconn.Client(address, authkey=authkey) as c:
        c.send(payload)
        return c.recv()


@pytest.mark.parametrize("kind", sorted(FAMILIES))
@pytest.mark.parametrize("authkey", [None, b"secret"], ids=["nokey", "key"])
def test_round_trip(mpconn, kind, authkey):
    address, family = listener_args(kind)
    with mpconn.Listener(address, family, authkey=authkey) as listener:
        peer = Peer(client_exchange, mpconn, listener.address, authkey, ("ping", 1))
        with listener.accept() as c:
            assert c.recv() == ("ping", 1)
            c.send(("pong", 2))
        assert peer.outcome() == ("pong", 2)


def test_address_types(mpconn):
    with mpconn.Listener() as l:
        assert isinstance(l.address, str) and os.path.exists(l.address)
        assert l.last_accepted is None
        peer = Peer(lambda: mpconn.Client(l.address).close())
        l.accept().close()
        peer.outcome()
        assert l.last_accepted == ""
    with mpconn.Listener("\0gompx-types-%d" % os.getpid()) as l:
        assert l.address == b"\0gompx-types-%d" % os.getpid()
        peer = Peer(lambda: mpconn.Client(l.address).close())
        l.accept().close()
        peer.outcome()
    with mpconn.Listener(("localhost", 0)) as l:
        host, port = l.address
        assert host == "127.0.0.1" and port > 0
        peer = Peer(lambda: mpconn.Client(l.address).close())
        l.accept().close()
        peer.outcome()
        assert l.last_accepted[0] == "127.0.0.1" and l.last_accepted[1] > 0


def test_unix_path_given_and_removed_on_close(mpconn, tmp_path):
    path = str(tmp_path / "l.sock")
    l = mpconn.Listener(path)
    assert l.address == path
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    peer = Peer(client_exchange, mpconn, path, None, 7)
    with l.accept() as c:
        c.send(c.recv() * 6)
    assert peer.outcome() == 42
    l.close()
    assert not os.path.exists(path)
    l.close()  # twice is harmless
    with pytest.raises(OSError, match="listener is closed"):
        l.accept()


def test_context_manager_closes(mpconn):
    with mpconn.Listener() as l:
        path = l.address
    assert not os.path.exists(path)
    with pytest.raises(OSError):
        l.accept()


def test_address_in_use(mpconn, tmp_path):
    path = str(tmp_path / "taken.sock")
    with mpconn.Listener(path):
        with pytest.raises(OSError) as info:
            mpconn.Listener(path)
        assert info.value.errno == 98  # EADDRINUSE


@pytest.mark.parametrize("kind", ["unix-default", "inet"])
def test_wrong_authkey_both_sides(mpconn, kind):
    address, family = listener_args(kind)
    with mpconn.Listener(address, family, authkey=b"right") as l:
        peer = Peer(client_exchange, mpconn, l.address, b"wrong", 1)
        with pytest.raises(mpconn.AuthenticationError):
            l.accept()
        with pytest.raises(mpconn.AuthenticationError):
            peer.outcome()


def test_client_without_key_against_keyed_listener(mpconn):
    # A client that knows no key sends junk where the answer belongs.
    with mpconn.Listener(authkey=b"k") as l:
        def plain():
            with mpconn.Client(l.address) as c:
                challenge = c.recv_bytes()
                c.send_bytes(b"x" * 16)
                return challenge, c.recv_bytes()
        peer = Peer(plain)
        with pytest.raises(mpconn.AuthenticationError):
            l.accept()
        challenge, verdict = peer.outcome()
        assert challenge.startswith(b"#CHALLENGE#") and verdict == b"#FAILURE#"


def test_nothing_unpickled_before_authentication(mpconn, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    with mpconn.Listener(authkey=b"k") as l:
        def attacker():
            with mpconn.Client(l.address) as c:
                c.recv_bytes()                      # the challenge
                c.send_bytes(pickle.dumps(Evil()))  # instead of the answer
                try:
                    c.recv_bytes()
                except EOFError:
                    pass
        peer = Peer(attacker)
        with pytest.raises(mpconn.AuthenticationError):
            l.accept()
        peer.outcome()
    assert not marker.exists()


def test_oversized_answer_is_not_read(mpconn):
    with mpconn.Listener(authkey=b"k") as l:
        def flood():
            s = socket.socket(socket.AF_UNIX)
            s.connect(l.address)
            s.sendall(struct.pack("!i", 1 << 30))  # a 1 GiB answer, never sent
            return s
        peer = Peer(flood)
        with pytest.raises(OSError):
            l.accept()
        peer.outcome().close()


def test_client_errors(mpconn, tmp_path):
    with pytest.raises(FileNotFoundError):
        mpconn.Client(str(tmp_path / "missing.sock"))
    stale = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()
    with pytest.raises(ConnectionRefusedError):
        mpconn.Client(stale)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(ConnectionRefusedError):
        mpconn.Client(("127.0.0.1", port))
    with pytest.raises(TypeError):
        mpconn.Client(42)


def test_bad_arguments(mpconn):
    with pytest.raises(TypeError):
        mpconn.Listener(authkey="str key")
    with pytest.raises(ValueError):
        mpconn.Listener(family="AF_PIPE")
    with mpconn.Listener() as l:
        with pytest.raises(TypeError):
            mpconn.Client(l.address, authkey="str key")
    a, b = mpconn.Pipe()
    with pytest.raises(ValueError):
        mpconn.deliver_challenge(a, "str key")
    with pytest.raises(ValueError):
        mpconn.answer_challenge(a, 123)


def test_address_helpers(mpconn):
    assert mpconn.address_type(("h", 1)) == "AF_INET"
    assert mpconn.address_type("/tmp/x") == "AF_UNIX"
    assert mpconn.address_type(b"\0abstract") == "AF_UNIX"
    assert mpconn.address_type("\\\\.\\pipe\\x") == "AF_PIPE"
    with pytest.raises(ValueError):
        mpconn.address_type(b"not-abstract")
    with pytest.raises(TypeError):
        mpconn.address_type(3)
    assert mpconn.arbitrary_address("AF_INET") == ("localhost", 0)
    path = mpconn.arbitrary_address("AF_UNIX")
    assert os.path.basename(path).startswith("listener-")
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    with pytest.raises(ValueError):
        mpconn.arbitrary_address("AF_BOGUS")


@pytest.mark.parametrize("same_key", [True, False], ids=["right", "wrong"])
def test_challenges_on_a_pipe(mpconn, same_key):
    a, b = mpconn.Pipe()

    def peer_side():
        mpconn.answer_challenge(b, b"key" if same_key else b"other")
        mpconn.deliver_challenge(b, b"key" if same_key else b"other")
    peer = Peer(peer_side)
    if same_key:
        mpconn.deliver_challenge(a, b"key")
        mpconn.answer_challenge(a, b"key")
        peer.outcome()
        a.send("after")
        assert b.recv() == "after"
    else:
        with pytest.raises(mpconn.AuthenticationError):
            mpconn.deliver_challenge(a, b"key")
        with pytest.raises(mpconn.AuthenticationError):
            peer.outcome()


@pytest.mark.parametrize("size", [0, 1 << 20, 16 << 20])
def test_large_messages(mpconn, size):
    blob = os.urandom(1024) * (size // 1024)
    with mpconn.Listener(("127.0.0.1", 0), authkey=b"k") as l:
        def echo():
            with mpconn.Client(l.address, authkey=b"k") as c:
                c.send_bytes(c.recv_bytes())
        peer = Peer(echo)
        with l.accept() as c:
            c.send_bytes(blob)
            assert c.recv_bytes() == blob
        peer.outcome()


def test_child_process_client(mp, mpconn, modname):
    ctx = mp.get_context("spawn")
    with mpconn.Listener(authkey=b"child-key") as l:
        p = ctx.Process(target=listener_targets.send_to_listener,
                        args=(modname, l.address, b"child-key", {"from": "child"}))
        p.start()
        try:
            with l.accept() as c:
                assert c.poll(30)
                assert c.recv() == {"from": "child"}
                c.send("ack")
        finally:
            p.join(30)
        assert p.exitcode == 0


def test_signal_during_handshake_resumes(mpconn):
    """A signal whose handler returns does not break a handshake waiting for the peer."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals go to the main thread")
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    try:
        with mpconn.Listener(authkey=b"k") as l:
            def slow_client():
                s = socket.socket(socket.AF_UNIX)
                s.connect(l.address)
                c = mpconn.Connection(s.detach())
                time.sleep(0.4)  # the listener waits for our answer meanwhile
                mpconn.answer_challenge(c, b"k")
                mpconn.deliver_challenge(c, b"k")
                c.send("made it")
                return c
            peer = Peer(slow_client)
            signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
            c = l.accept()
            signal.setitimer(signal.ITIMER_REAL, 0)
            assert c.recv() == "made it"
            peer.outcome().close()
            c.close()
        assert len(hits) >= 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_exception_from_signal_handler_interrupts_accept(mpconn):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals go to the main thread")

    class Stop(Exception):
        pass

    def handler(*a):
        raise Stop
    old = signal.signal(signal.SIGALRM, handler)
    try:
        with mpconn.Listener() as l:
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            start = time.monotonic()
            with pytest.raises(Stop):
                l.accept()
            assert time.monotonic() - start < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- gompx only ---------------------------------------------------------------------------

@pytest.mark.gompx_only
def test_unix_socket_file_is_0600(mpconn, tmp_path):
    old = os.umask(0)  # stdlib would create it 0777 here; gompx sets the mode before bind
    try:
        with mpconn.Listener(str(tmp_path / "private.sock")) as l:
            assert stat.S_IMODE(os.stat(l.address).st_mode) == 0o600
    finally:
        os.umask(old)


@pytest.mark.gompx_only
def test_challenge_bytes_on_the_wire(mpconn):
    """The challenge is CPython 3.12's: #CHALLENGE#{sha256} + 40 random bytes."""
    with mpconn.Listener(authkey=b"k") as l:
        def raw():
            s = socket.socket(socket.AF_UNIX)
            s.connect(l.address)
            header = s.recv(4, socket.MSG_WAITALL)
            (n,) = struct.unpack("!i", header)
            body = s.recv(n, socket.MSG_WAITALL)
            s.close()
            return body
        peer = Peer(raw)
        with pytest.raises(EOFError):
            l.accept()
        body = peer.outcome()
    assert body.startswith(b"#CHALLENGE#{sha256}") and len(body) == 11 + 8 + 40


@pytest.mark.gompx_only
def test_empty_authkey_still_authenticates(mpconn):
    # CPython <= 3.12's Listener skips the handshake for b'' while its Client runs it;
    # gompx runs it on both sides (as 3.13 does).
    with mpconn.Listener(authkey=b"") as l:
        peer = Peer(client_exchange, mpconn, l.address, b"", "x")
        with l.accept() as c:
            c.send(c.recv())
        assert peer.outcome() == "x"
        peer = Peer(client_exchange, mpconn, l.address, b"nonempty", "x")
        with pytest.raises(mpconn.AuthenticationError):
            l.accept()
        with pytest.raises(mpconn.AuthenticationError):
            peer.outcome()


@pytest.mark.gompx_only
@pytest.mark.parametrize("digest", ["md5", "sha256", "sha384", "sha3_256", "sha3_384"])
def test_deliver_challenge_digests(mpconn, digest):
    a, b = mpconn.Pipe()
    peer = Peer(mpconn.answer_challenge, b, b"key")
    mpconn.deliver_challenge(a, b"key", digest_name=digest)
    peer.outcome()
    with pytest.raises(ValueError):
        mpconn.deliver_challenge(a, b"key", digest_name="sha1")


@pytest.mark.gompx_only
def test_abstract_name_with_inner_nul(mpconn):
    name = b"\0gompx\0inner-%d" % os.getpid()
    with mpconn.Listener(name) as l:
        assert l.address == name
        peer = Peer(client_exchange, mpconn, name, None, 5)
        with l.accept() as c:
            c.send(c.recv())
        assert peer.outcome() == 5


@pytest.mark.gompx_only
def test_close_wakes_accept_in_another_thread(mpconn):
    # stdlib's accept() in another thread never returns after close() on Linux.
    l = mpconn.Listener()
    waiter = Peer(l.accept)
    time.sleep(0.2)
    l.close()
    with pytest.raises(OSError):
        waiter.outcome(timeout=5)
