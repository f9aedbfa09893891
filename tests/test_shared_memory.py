"""``shared_memory``: SharedMemory and ShareableList, on stdlib and gompx alike, then the
lifetime gompx promises and stdlib does not give (gompx only): attach from an unrelated
process, a segment outliving its creator, nothing left behind by SIGKILL, no descriptor
leaks, unlink that never cuts memory others still map.
"""

import errno
import gc
import hashlib
import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

import shm_targets

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(HERE, "shm_targets.py")
REPLY = 30  # seconds an unrelated process may take to answer one command


@pytest.fixture
def sm(mp):
    """The implementation's shared_memory module."""
    return importlib.import_module(mp.__name__ + ".shared_memory")


@pytest.fixture
def names(sm):
    """Makes names no other test uses; unlinks whatever is left under them at the end."""
    made = []

    def new():
        made.append("gx_" + uuid.uuid4().hex[:10])
        return made[-1]
    yield new
    for name in made:
        try:
            left = sm.SharedMemory(name)
        except FileNotFoundError:
            continue
        except (OSError, ValueError):  # stdlib left an empty file it cannot map
            if os.path.exists("/dev/shm/" + name):
                os.unlink("/dev/shm/" + name)
            continue
        left.close()
        try:
            left.unlink()
        except OSError:
            pass
    for name in made:  # a stale file a test's SIGKILLed holders left (gompx sweeps it too)
        if os.path.lexists("/dev/shm/" + name):
            os.unlink("/dev/shm/" + name)


def filled(sm, name, size):
    shm = sm.SharedMemory(name, create=True, size=size)
    shm.buf[:] = content(name, size)
    return shm


def content(name, size):
    return hashlib.shake_128(name.encode()).digest(size)


def digest(data):
    return hashlib.sha256(data).hexdigest()


# --- SharedMemory ---------------------------------------------------------------------

def test_create_attach_share(sm, names):
    name = names()
    a = filled(sm, name, 5000)
    b = sm.SharedMemory(name)
    try:
        assert (a.name, a.size, len(a.buf)) == (name, 5000, 5000)
        assert (b.name, b.size, len(b.buf)) == (name, 5000, 5000)
        assert bytes(b.buf) == content(name, 5000)
        assert isinstance(a.buf, memoryview) and not a.buf.readonly and a.buf.format == "B"
        b.buf[4990:] = b"0123456789"
        assert bytes(a.buf[4990:]) == b"0123456789"
        assert repr(a) == "SharedMemory(%r, size=5000)" % name
    finally:
        b.close()
        a.close()
        a.unlink()


def test_size_on_attach_ignores_size_argument(sm, names):
    name = names()
    a = sm.SharedMemory(name, create=True, size=10)
    b = sm.SharedMemory(name, size=1 << 20)
    assert b.size == 10 and len(b.buf) == 10
    b.close()
    a.close()
    a.unlink()


def test_generated_name(sm):
    shm = sm.SharedMemory(create=True, size=100)
    try:
        assert shm.name.startswith("psm_") and 4 < len(shm.name) <= 14
        other = sm.SharedMemory(shm.name)
        assert other.size == 100
        other.close()
    finally:
        shm.close()
        shm.unlink()


def test_leading_slash(sm, names):
    name = names()
    a = sm.SharedMemory("/" + name, create=True, size=10)
    b = sm.SharedMemory(name)  # leading slashes do not count, as in shm_open
    assert a.name == "/" + name and b.name == name
    b.close()
    a.close()
    a.unlink()


NEW = object()  # stands for a fresh name in the table below


@pytest.mark.parametrize("kwargs, exc, text", [
    (dict(name=NEW, create=True, size=-1), ValueError, "'size' must be a positive integer"),
    (dict(name=NEW, size=-1), ValueError, "'size' must be a positive integer"),
    (dict(name=NEW, create=True, size=0), ValueError, "different from zero"),
    (dict(name=NEW, create=True), ValueError, "different from zero"),
    (dict(), ValueError, "'name' can only be None if create=True"),
    (dict(name=None, size=10), ValueError, "'name' can only be None if create=True"),
    (dict(name=NEW, create=True, size=1.5), TypeError, "cannot be interpreted as an integer"),
    (dict(name=7, create=True, size=10), TypeError, "can only concatenate str"),
    (dict(name=b"x", create=True, size=10), TypeError, "can only concatenate str"),
])
def test_argument_errors(sm, names, kwargs, exc, text):
    if kwargs.get("name") is NEW:
        # stdlib makes the file before it finds size 1.5 wrong, and leaves it: the names
        # fixture removes it.
        kwargs = dict(kwargs, name=names())
    with pytest.raises(exc, match=text):
        sm.SharedMemory(**kwargs)


@pytest.mark.parametrize("name, create, code", [
    ("a/b", True, errno.EINVAL),
    ("a/b", False, errno.EINVAL),
    ("", True, errno.EINVAL),
    ("x" * 256, True, errno.ENAMETOOLONG),
])
def test_bad_names(sm, name, create, code):
    with pytest.raises(OSError) as info:
        sm.SharedMemory(name, create=create, size=10)
    assert info.value.errno == code
    assert info.value.filename == "/" + name


@pytest.mark.gompx_only
def test_name_with_nul(sm, names):
    # stdlib's C layer cuts the name at the NUL and makes "a" instead: refused here.
    with pytest.raises(ValueError):
        sm.SharedMemory(names() + "\0x", create=True, size=10)


def test_longest_name(sm):
    name = "L" + uuid.uuid4().hex + "x" * (255 - 33)
    a = sm.SharedMemory(name, create=True, size=10)
    b = sm.SharedMemory(name)
    a.buf[0] = 9
    assert b.buf[0] == 9 and len(name) == 255
    b.close()
    a.close()
    a.unlink()


def test_exists_and_not_found(sm, names):
    name = names()
    a = sm.SharedMemory(name, create=True, size=10)
    with pytest.raises(FileExistsError) as info:
        sm.SharedMemory(name, create=True, size=10)
    assert (info.value.errno, info.value.filename) == (errno.EEXIST, "/" + name)
    assert str(info.value) == "[Errno 17] File exists: '/%s'" % name
    missing = names()
    with pytest.raises(FileNotFoundError) as info:
        sm.SharedMemory(missing)
    assert str(info.value) == "[Errno 2] No such file or directory: '/%s'" % missing
    a.close()
    a.unlink()


def test_unlink(sm, names):
    name = names()
    a = filled(sm, name, 100)
    b = sm.SharedMemory(name)
    a.unlink()
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)
    with pytest.raises(FileNotFoundError) as info:
        a.unlink()
    assert info.value.filename == "/" + name
    # The memory stays for those that map it, and the name is free for a new segment.
    a.buf[:5] = b"after"
    assert bytes(b.buf[:5]) == b"after"
    c = sm.SharedMemory(name, create=True, size=7)
    assert bytes(c.buf) == bytes(7) and bytes(b.buf[5:]) == content(name, 100)[5:]
    for shm in (a, b, c):
        shm.close()
    c.unlink()


def test_close(sm, names):
    name = names()
    shm = sm.SharedMemory(name, create=True, size=10)
    view = shm.buf[2:4]
    with pytest.raises(BufferError):
        shm.close()  # a view of the mmap is alive
    view.release()
    shm.close()
    shm.close()
    assert shm.buf is None and (shm.name, shm.size) == (name, 10)
    shm.unlink()  # the usual ending: close, then unlink
    with pytest.raises(FileNotFoundError):
        shm.unlink()
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)


def test_pickles_by_name(sm, names):
    name = names()
    a = filled(sm, name, 64)
    b = pickle.loads(pickle.dumps(a))
    assert type(b) is type(a) and (b.name, b.size) == (name, 64)
    assert bytes(b.buf) == content(name, 64)
    b.close()
    a.close()
    a.unlink()


def test_child_gets_it_pickled_or_by_name(sm, ctx, names, modname):
    name = names()
    shm = filled(sm, name, 4096)
    try:
        recv, send = ctx.Pipe(False)
        p = ctx.Process(target=shm_targets.write_through, args=(send, shm, b"child"))
        p.start()
        assert recv.poll(30), "no report from the child"
        assert recv.recv() == (name, 4096, digest(b"child" + content(name, 4096)[5:]))
        p.join(30)
        assert p.exitcode == 0
        p = ctx.Process(target=shm_targets.attach_by_name, args=(send, modname, name))
        p.start()
        assert recv.poll(30), "no report from the child"
        assert recv.recv() == (4096, digest(bytes(shm.buf)))
        p.join(30)
        assert p.exitcode == 0
        assert bytes(shm.buf[:5]) == b"child"
    finally:
        shm.close()
        shm.unlink()


# --- ShareableList --------------------------------------------------------------------

ITEMS = [7, -2**63, 2.5, True, False, None, "text", "", b"by\x01", b"", "x" * 17, "héllo"]


def test_shareable_list(sm, names):
    sl = sm.ShareableList(ITEMS, name=names())
    try:
        assert list(sl) == ITEMS and len(sl) == len(ITEMS)
        assert sl.format == "qqdxxxxxxx?xxxxxxx?xxxxxx?x8s8s8s8s24s8s"
        assert repr(sl) == "ShareableList(%r, name=%r)" % (ITEMS, sl.shm.name)
        assert isinstance(sl.shm, sm.SharedMemory)
        assert (sl[-1], sl[-len(ITEMS)]) == ("héllo", 7)
        assert sl.count(True) == 1 and sl.count(None) == 1 and sl.count("none") == 0
        assert sl.index(2.5) == 2
        with pytest.raises(ValueError, match="not in this container"):
            sl.index("absent")
        other = sm.ShareableList(name=sl.shm.name)
        assert list(other) == ITEMS
        other[0] = "eight ch"   # a number's slot holds 8 bytes of text
        other[6] = 1.25         # a text slot holds a number
        other[8] = b"\x00\x01"  # trailing NULs are stripped, leading kept
        assert sl[0] == "eight ch" and sl[6] == 1.25 and sl[8] == b"\x00\x01"
        assert sl.format.startswith("8sqdxxxxxxx?xxxxxxx?xxxxxx?xd8s8s")
        other.shm.close()
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_shareable_list_errors(sm, names, impl):
    sl = sm.ShareableList([1, "abc"], name=names())
    try:
        with pytest.raises(IndexError, match="^index out of range$"):
            sl[2]
        if impl == "gompx":  # stdlib adds the length twice and reads another item
            with pytest.raises(IndexError, match="^index out of range$"):
                sl[-3]
        with pytest.raises(IndexError, match="^assignment index out of range$"):
            sl[2] = 1
        with pytest.raises(ValueError, match="exceeds available storage"):
            sl[1] = "123456789"  # "abc" got 8 bytes
        with pytest.raises(KeyError):
            sl[0] = [1]
        with pytest.raises(TypeError):
            sl[0:1]
        assert list(sl) == [1, "abc"]
    finally:
        sl.shm.close()
        sl.shm.unlink()
    with pytest.raises(KeyError):
        sm.ShareableList([1, {}])
    with pytest.raises(FileNotFoundError):
        sm.ShareableList(name=names())


def test_shareable_list_empty_and_generated_name(sm):
    sl = sm.ShareableList()
    assert list(sl) == [] and sl.format == "" and sl.shm.name.startswith("psm_")
    sl.shm.close()
    sl.shm.unlink()
    alias = sm.ShareableList[int]
    assert alias.__origin__ is sm.ShareableList


def test_shareable_list_layout_is_stdlib(sm, names):
    """The block holds exactly the bytes stdlib's ShareableList writes (ASCII items)."""
    from multiprocessing import shared_memory as std
    items = [1, 2.5, True, None, "hello", b"by", "x" * 20]
    ours = sm.ShareableList(items, name=names())
    ref = std.ShareableList(items)
    try:
        assert ours.shm.size == ref.shm.size
        assert bytes(ours.shm.buf[:ours.shm.size]) == bytes(ref.shm.buf[:ref.shm.size])
    finally:
        for sl in (ours, ref):
            sl.shm.close()
            sl.shm.unlink()


def test_shareable_list_to_child(sm, ctx, names):
    sl = sm.ShareableList([21, "parent"], name=names())
    try:
        recv, send = ctx.Pipe(False)
        p = ctx.Process(target=shm_targets.edit_list, args=(send, sl))
        p.start()
        assert recv.poll(30), "no report from the child"
        assert recv.recv() == (sl.shm.name, [42, "child"])
        p.join(30)
        assert p.exitcode == 0 and list(sl) == [42, "child"]
        copy = pickle.loads(pickle.dumps(sl))
        assert list(copy) == [42, "child"] and copy.shm.name == sl.shm.name
        copy.shm.close()
    finally:
        sl.shm.close()
        sl.shm.unlink()


# --- names, _make_filename, _flags, track -----------------------------------------------

def test_make_filename(sm):
    made = {sm._make_filename() for _ in range(20)}
    assert len(made) == 20
    for name in made:
        assert name.startswith(sm._SHM_NAME_PREFIX) and len(name) <= sm._SHM_SAFE_NAME_LENGTH
    assert sm._SHM_NAME_PREFIX == "/psm_" and sm._O_CREX == os.O_CREAT | os.O_EXCL


def test_made_up_name_is_made_again_while_taken(sm, names, monkeypatch):
    taken, fresh = names(), names()
    a = sm.SharedMemory(taken, create=True, size=1)
    offered = iter(["/" + taken, "/" + fresh])
    monkeypatch.setattr(sm, "_make_filename", lambda: next(offered))
    b = sm.SharedMemory(create=True, size=1)
    try:
        assert (b._name, b.name) == ("/" + fresh, fresh)
    finally:
        for shm in (a, b):
            shm.close()
            shm.unlink()


def test_private_name_has_the_leading_slash(sm, names):
    name = names()
    a = sm.SharedMemory(name, create=True, size=1)
    b = sm.SharedMemory(name)
    assert (a._name, a.name, b._name, b.name) == ("/" + name, name, "/" + name, name)
    b.close()
    a.close()
    a.unlink()


def test_flags_o_creat_attaches_to_an_existing_block(sm, names):
    class OptionalAttach(sm.SharedMemory):
        _flags = os.O_CREAT | os.O_RDWR
    name = names()
    a = sm.SharedMemory(name, create=True, size=700)
    a.buf[0] = 7
    b = OptionalAttach(name)
    assert b.size == 700 and b.buf[0] == 7
    b.close()
    a.close()
    a.unlink()


@pytest.mark.gompx_only
def test_flags_o_creat_creates_an_absent_block(sm, names):
    # stdlib creates an empty file here, which mmap then refuses (and the file stays).
    class OptionalAttach(sm.SharedMemory):
        _flags = os.O_CREAT | os.O_RDWR
    name = names()
    with pytest.raises(ValueError, match="different from zero"):
        OptionalAttach(name)
    a = OptionalAttach(name, size=10)
    b = sm.SharedMemory(name)
    assert a.size == b.size == 10
    b.close()
    a.close()
    a.unlink()


def test_unlink_removes_the_name_in_private_name(sm, names, impl):
    a = sm.SharedMemory(names(), create=True, size=1)
    b = sm.SharedMemory(names(), create=True, size=1)
    name = a._name
    if impl == "gompx" or sys.version_info >= (3, 13):  # stdlib cut it at the NUL before
        a._name = name + "\0x"
        with pytest.raises(ValueError):
            a.unlink()
    a._name = b._name  # as stdlib: the name it holds, not the block it maps
    a.unlink()
    with pytest.raises(FileNotFoundError):
        b.unlink()
    a._name = name
    a.unlink()
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)
    a.close()
    b.close()


def test_track_false(sm, names, modname, run_script):
    if modname == "multiprocessing" and sys.version_info < (3, 13):
        pytest.skip("track= is new in 3.13")
    name = names()
    a = sm.SharedMemory(name, create=True, size=10, track=False)
    assert a._track is False
    try:
        done = run_script(
            "import sys, %s.shared_memory as sm\n"
            "b = sm.SharedMemory(sys.argv[1], track=False)\n"
            "b.buf[:5] = b'child'\n"
            "b.close()\n" % modname, name)
        assert done.returncode == 0 and "resource_tracker" not in done.stderr, done.stderr
        c = sm.SharedMemory(name)  # the child's exit took nothing away
        assert bytes(c.buf[:5]) == b"child"
        c.close()
    finally:
        a.close()
        a.unlink()


STOCK_ATTACH = """if 1:
    import sys
    from multiprocessing import shared_memory
    assert "gompx" not in sys.modules
    kwargs = {"track": False} if sys.version_info >= (3, 13) else {}
    b = shared_memory.SharedMemory(sys.argv[1], **kwargs)
    print(bytes(b.buf[:6]).decode(), b.size, flush=True)
    b.buf[6:12] = b"stock!"
    b.close()
    if sys.version_info < (3, 13):  # its tracker would unlink the name at exit
        from multiprocessing import resource_tracker
        resource_tracker.unregister(b._name, "shared_memory")
"""


# A program that knows nothing of gompx (stock CPython, no -m gompx) attaches by name.
def test_stock_cpython_attaches_by_name(sm, names):
    name = names()
    a = sm.SharedMemory(name, create=True, size=5000)
    try:
        a.buf[:6] = b"parent"
        done = subprocess.run([sys.executable, "-I", "-c", STOCK_ATTACH, name],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        text, size = done.stdout.split()
        assert text == "parent"
        assert int(size) >= 5000  # gompx: whole pages and its header page after the data
        assert bytes(a.buf[6:12]) == b"stock!"
    finally:
        a.close()
        a.unlink()
    assert not os.path.lexists("/dev/shm/" + name)


# stock CPython's resource tracker unlinks what its process attached to: under gompx that
# removes the POSIX name only, and the segment stays named for gompx processes.
@pytest.mark.gompx_only
def test_stock_unlink_removes_the_posix_name_only(sm, names):
    name = names()
    a = sm.SharedMemory(name, create=True, size=100)
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c",
             "import sys; from multiprocessing import shared_memory as sm; "
             "sm.SharedMemory(sys.argv[1]).unlink()", name],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert not os.path.lexists("/dev/shm/" + name)
        b = sm.SharedMemory(name)
        b.close()
    finally:
        a.close()
        a.unlink()


def test_shareable_list_sizes_str_slots_as_stdlib(sm, names):
    sl = sm.ShareableList(["encodés", "ab", "x" * 8, b"by"], name=names())
    try:
        assert sl.format == "8s8s16s8s"
        assert list(sl) == ["encodés", "ab", "x" * 8, b"by"]
    finally:
        sl.shm.close()
        sl.shm.unlink()


@pytest.mark.gompx_only
def test_shareable_list_keeps_long_utf8_str(sm, names):
    # stdlib gives "é" * 7 8 bytes (by characters) and cuts it in the middle of a letter.
    sl = sm.ShareableList(["é" * 7], name=names())
    try:
        assert sl.format == "16s" and sl[0] == "é" * 7
    finally:
        sl.shm.close()
        sl.shm.unlink()


@pytest.mark.gompx_only
def test_shareable_list_item_too_long(sm):
    # stdlib: AssertionError
    with pytest.raises(ValueError, match="longer than 8 characters"):
        sm.ShareableList(["x" * 9_999_999])


# --- SharedMemoryManager ----------------------------------------------------------------

@pytest.fixture
def mgrs(mp):
    return importlib.import_module(mp.__name__ + ".managers")


def tracked(mgrs, smm):
    """The names the manager's server tracks (its list_segments request)."""
    conn = smm._Client(smm.address, authkey=smm._authkey)
    try:
        return sorted(mgrs.dispatch(conn, None, "list_segments"))
    finally:
        conn.close()


def release(mgrs, smm, name):
    conn = smm._Client(smm.address, authkey=smm._authkey)
    try:
        mgrs.dispatch(conn, None, "release_segment", (name,))
    finally:
        conn.close()


def test_shared_memory_manager(mp, sm, mgrs, ctx):
    smm = mgrs.SharedMemoryManager(ctx=ctx)
    with pytest.raises(ValueError):
        smm.SharedMemory(9)  # not started
    with pytest.raises(ValueError):
        smm.ShareableList([1])
    smm.start()
    with pytest.raises(mp.ProcessError, match="Already started SharedMemoryServer"):
        smm.get_server()
    shm = smm.SharedMemory(100)
    sl = smm.ShareableList([1, "two"])
    assert isinstance(shm, sm.SharedMemory) and isinstance(sl, sm.ShareableList)
    assert tracked(mgrs, smm) == sorted([shm.name, sl.shm.name])
    name = shm.name
    shm.buf[:3] = b"abc"
    shm.close()  # the block stays: the server tracks it
    again = sm.SharedMemory(name)
    assert again.size >= 100 and bytes(again.buf[:3]) == b"abc"
    release(mgrs, smm, sl.shm.name)  # unlinked now
    with pytest.raises(FileNotFoundError):
        sm.ShareableList(name=sl.shm.name)
    assert tracked(mgrs, smm) == [name]
    smm.shutdown()
    assert smm._process is None or smm._process.exitcode == 0
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)  # unlinked at shutdown, though `again` still maps it
    assert bytes(again.buf[:3]) == b"abc"
    again.close()
    sl.shm.close()
    with pytest.raises(mp.ProcessError, match="SharedMemoryManager has shut down"):
        smm.get_server()


def test_shared_memory_manager_as_context_manager(sm, mgrs, ctx):
    with mgrs.SharedMemoryManager(ctx=ctx) as smm:
        sl = smm.ShareableList("howdy")
        shm = smm.SharedMemory(size=128)
        assert list(sl) == list("howdy")
    for name in (sl.shm.name, shm.name):
        with pytest.raises(FileNotFoundError):
            sm.SharedMemory(name)
    sl.shm.close()
    shm.close()


def test_shared_memory_server_ignores_sigint(sm, mgrs, ctx):
    with mgrs.SharedMemoryManager(ctx=ctx) as smm:
        smm.ShareableList(range(10)).shm.close()
        os.kill(smm._process.pid, signal.SIGINT)
        sl = smm.ShareableList(range(10))
        assert sl[9] == 9
        proc = smm._process
    proc.join(30)
    assert proc.exitcode == 0
    sl.shm.close()


@pytest.mark.gompx_only
def test_shared_memory_manager_shuts_down_after_an_outside_unlink(sm, mgrs, ctx):
    # stdlib's server fails its shutdown request on the missing name, and is terminated.
    smm = mgrs.SharedMemoryManager(ctx=ctx)
    smm.start()
    shm = smm.SharedMemory(10)
    shm.unlink()
    other = smm.SharedMemory(10)
    proc = smm._process
    smm.shutdown()
    proc.join(30)
    assert proc.exitcode == 0
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(other.name)
    shm.close()
    other.close()


# --- gompx: lifetime ------------------------------------------------------------------

class Holder:
    """An unrelated process (started with Popen, not a child Process) holding a segment."""

    def __init__(self, mode, name, size=None):
        args = [sys.executable, TARGETS, "gompx", mode, name] + ([str(size)] if size else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        words = self._line().split()
        assert words[:1] == ["ready"], "holder did not start: %r %s" % (words, self._stderr())
        self.size, self.digest = int(words[1]), words[2]

    def _line(self):
        timer = threading.Timer(REPLY, self.proc.kill)
        timer.start()
        try:
            return self.proc.stdout.readline().strip()
        finally:
            timer.cancel()

    def _stderr(self):
        self.proc.kill()
        return self.proc.stderr.read()

    def ask(self, *words):
        self.proc.stdin.write(" ".join(map(str, words)) + "\n")
        self.proc.stdin.flush()
        answer = self._line()
        assert answer or self.proc.poll() is None, "holder died: %s" % self._stderr()
        return answer

    def exit(self):
        self.proc.stdin.write("exit\n")
        self.proc.stdin.flush()
        assert self.proc.wait(REPLY) == 0, self._stderr()

    def kill(self):
        self.proc.kill()
        self.proc.wait(REPLY)

    def close(self):
        if self.proc.poll() is None:
            self.kill()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def holders():
    started = []

    def start(mode, name, size=None):
        started.append(Holder(mode, name, size))
        return started[-1]
    yield start
    for h in started:
        h.close()


def name_bound(name):
    """Whether a socket listens on the abstract address that serves *name*.

    From /proc/net/unix, counting listeners only (flag __SO_ACCEPTCON): the connections
    a server accepted show its address too, and linger a moment after it let go.
    """
    address = "@gompx-shm/%d/%s" % (os.geteuid(), name.lstrip("/"))
    with open("/proc/net/unix") as f:
        rows = [line.split() for line in f]
    return any(len(r) == 8 and r[7] == address and int(r[3], 16) & 0x10000 for r in rows)


def unbound_soon(name):
    """Whether the name stops being bound within a second: a holder closes its listener
    a moment after close() returns."""
    deadline = time.monotonic() + 1
    while name_bound(name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def memfd_users(name, within=0):
    """The processes holding the segment's memory file; with *within*, wait up to that
    many seconds for the set to empty (a holder releases it a moment after close())."""
    deadline = time.monotonic() + within
    users = _memfd_users(name)
    while users and time.monotonic() < deadline:
        time.sleep(0.005)
        users = _memfd_users(name)
    return users


def _memfd_users(name):
    """Processes with the segment's memory file (its /dev/shm file, or a memfd where
    there is no /dev/shm) open or mapped (we are root: all of them)."""
    tags = ("/memfd:gompx-shm:%s (deleted)" % name, "/dev/shm/" + name,
            "/dev/shm/%s (deleted)" % name)
    users = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
            if any(os.readlink("/proc/%s/fd/%s" % (pid, fd)) in tags for fd in fds):
                users.add(int(pid))
            with open("/proc/%s/maps" % pid) as f:
                if any(line.rstrip("\n").endswith(tags) for line in f):
                    users.add(int(pid))
        except OSError:  # gone meanwhile, or a descriptor closed under us
            continue
    return users


def dev_shm_with(name):
    return [entry for entry in os.listdir("/dev/shm") if name in entry]


@pytest.mark.gompx_only
def test_unrelated_process_attaches(sm, names, holders):
    name = names()
    shm = filled(sm, name, 1 << 20)
    other = holders("attach", name)
    assert (other.size, other.digest) == (1 << 20, digest(content(name, 1 << 20)))
    assert other.ask("write", 100, "from-elsewhere") == "ok"
    assert bytes(shm.buf[100:114]) == b"from-elsewhere"
    shm.buf[:6] = b"parent"
    assert other.ask("read", 0, 6) == "parent"
    other.exit()
    shm.close()
    shm.unlink()


@pytest.mark.gompx_only
def test_created_elsewhere_attached_here(sm, names, holders):
    name = names()
    creator = holders("create", name, 4096)
    shm = sm.SharedMemory(name)
    assert bytes(shm.buf) == content(name, 4096)
    with pytest.raises(FileExistsError):
        sm.SharedMemory(name, create=True, size=1)
    shm.close()
    creator.exit()


@pytest.mark.gompx_only
def test_segment_outlives_its_creator_closing(sm, names, holders):
    name = names()
    shm = filled(sm, name, 8192)
    other = holders("attach", name)
    shm.close()  # no unlink: the other process still uses it
    again = sm.SharedMemory(name)  # the name still resolves (the other process serves it)
    assert bytes(again.buf) == content(name, 8192)
    again.buf[:4] = b"back"
    assert other.ask("read", 0, 4) == "back"
    again.close()
    other.exit()  # the last holder: the segment goes with it
    assert not name_bound(name)
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)
    shm.unlink()  # close-then-unlink after everyone left: nothing to do, no error


@pytest.mark.gompx_only
def test_creator_sigkilled_attacher_keeps_it(sm, names, holders):
    name = names()
    creator = holders("create", name, 1 << 16)
    shm = sm.SharedMemory(name)
    creator.kill()
    again = sm.SharedMemory(name)  # this process's stand-by took the name over
    assert bytes(again.buf) == bytes(shm.buf) == content(name, 1 << 16)
    again.close()
    shm.close()
    assert unbound_soon(name) and not memfd_users(name, within=1)


@pytest.mark.gompx_only
def test_sigkill_of_every_holder_leaves_only_its_file(sm, names, holders):
    name = names()
    size = 8 << 20
    procs = [holders("create", name, size), holders("attach", name), holders("attach", name)]
    assert all(h.digest == digest(content(name, size)) for h in procs)
    assert name_bound(name)
    assert {h.proc.pid for h in procs} <= memfd_users(name)
    for h in procs:
        os.kill(h.proc.pid, signal.SIGKILL)
    for h in procs:
        h.proc.wait(REPLY)
    assert not name_bound(name)
    assert memfd_users(name) == set()  # no process holds the memory any more
    # Its /dev/shm file is left (as stdlib's), stale: nobody serves the name, so attaching
    # fails and creating the name again (or any process's first create) removes it.
    assert dev_shm_with(name) == [name]
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)
    again = sm.SharedMemory(name, create=True, size=10)
    assert os.path.getsize("/dev/shm/" + name) == 2 * 4096
    again.close()
    assert dev_shm_with(name) == []  # the last holder's close takes the file


@pytest.mark.gompx_only
def test_unlink_elsewhere_keeps_memory_here(sm, names, holders):
    name = names()
    shm = filled(sm, name, 4096)
    other = holders("attach", name)
    assert other.ask("unlink") == "ok"
    assert not name_bound(name)
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)
    assert other.ask("write", 0, "still-shared") == "ok"
    assert bytes(shm.buf[:12]) == b"still-shared"
    with pytest.raises(FileNotFoundError):
        shm.unlink()
    assert other.ask("unlink") == "FileNotFoundError"
    other.exit()
    shm.close()


@pytest.mark.gompx_only
def test_unlink_after_close_while_another_holds(sm, names, holders):
    name = names()
    shm = filled(sm, name, 4096)
    other = holders("attach", name)
    shm.close()
    shm.unlink()  # the other process serves the name: it lets go of it
    assert not name_bound(name)
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)
    assert other.ask("digest") == digest(content(name, 4096))
    with pytest.raises(FileNotFoundError):
        shm.unlink()
    fresh = sm.SharedMemory(name, create=True, size=10)  # the name is free at once
    assert other.ask("digest") == digest(content(name, 4096))
    other.exit()
    fresh.close()
    fresh.unlink()


@pytest.mark.gompx_only
def test_no_descriptor_leak(sm, names):
    def fds():
        return len(os.listdir("/proc/self/fd"))

    def cycle(n):
        for _ in range(n):
            name = names()
            a = sm.SharedMemory(name, create=True, size=4096)
            b = sm.SharedMemory(name)
            c = pickle.loads(pickle.dumps(b))
            b.unlink()
            for shm in (c, b, a):
                shm.close()
        d = sm.SharedMemory(create=True, size=10)
        del d  # dropped without close: __del__ closes it
        gc.collect()
        with pytest.raises(FileNotFoundError):
            sm.SharedMemory(names())

    cycle(2)
    before = fds()
    cycle(20)
    # The far end of a holder's link closes when its goroutine sees the hang-up.
    deadline = time.monotonic() + 5
    while fds() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fds() <= before


@pytest.mark.gompx_only
def test_mmap_failure_leaves_nothing(sm, names, monkeypatch):
    name = names()
    import mmap as mmap_module

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOMEM, "no room")
    monkeypatch.setattr(sm.mmap, "mmap", refuse)
    with pytest.raises(OSError, match="no room"):
        sm.SharedMemory(name, create=True, size=10)
    monkeypatch.setattr(sm.mmap, "mmap", mmap_module.mmap)
    assert not name_bound(name)
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)


@pytest.mark.gompx_only
def test_child_keeps_what_parent_closed_at_once(sm, ctx, names):
    """A SharedMemory argument reaches a spawned child as its memory file, not by name."""
    name = names()
    shm = filled(sm, name, 4096)
    recv, send = ctx.Pipe(False)
    p = ctx.Process(target=shm_targets.write_through, args=(send, shm, b"child"))
    p.start()
    shm.close()  # before the child could have attached by name
    assert recv.poll(30), "no report from the child"
    assert recv.recv() == (name, 4096, digest(b"child" + content(name, 4096)[5:]))
    p.join(30)
    assert p.exitcode == 0
    with pytest.raises(FileNotFoundError):
        sm.SharedMemory(name)  # the child, its last holder, closed it


@pytest.mark.gompx_only
def test_forked_copy_does_not_call_go(sm, names):
    """After os.fork() the mapping works; close() must not call the Go core, which did not
    survive the fork (a call would hang), and unlink() says why it cannot."""
    shm = filled(sm, names(), 4096)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            shm.buf[0] = 42
            try:
                shm.unlink()
            except RuntimeError:
                shm.close()
                del shm
                gc.collect()
                code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    assert shm.buf[0] == 42
    shm.close()
    shm.unlink()
