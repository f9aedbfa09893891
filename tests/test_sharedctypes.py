"""multiprocessing.sharedctypes, the stdlib API: Value, Array, RawValue, RawArray,
synchronized() and copy() -- typecodes and ctypes types, the lock options, the wrappers'
sequence and locking behaviour, and objects shared with children.

Every case runs against stdlib and gompx.  Children are spawned from the spawn context
(``ctx``, or ``pctx`` for spawn and forkserver) and the shared objects come from that
context too: a synchronized wrapper carries a lock, and the stdlib refuses to hand a lock
made in a fork context to a spawned child.
"""

import array
import ctypes
import importlib
import pickle
import threading
import types

import pytest

import sync_targets as st
from mp_targets import Background, digest, join_within, pattern, recv_within
from sync_targets import Point, held

GET = 10  # seconds anything that must happen may take

# typecode, its ctypes type, a value at the edge of its range, the zero value
TYPECODES = [
    ("c", ctypes.c_char, b"\xff", b"\x00"),
    ("u", ctypes.c_wchar, "\u00e9", "\x00"),
    ("b", ctypes.c_byte, -128, 0),
    ("B", ctypes.c_ubyte, 255, 0),
    ("h", ctypes.c_short, -32768, 0),
    ("H", ctypes.c_ushort, 65535, 0),
    ("i", ctypes.c_int, -2 ** 31, 0),
    ("I", ctypes.c_uint, 2 ** 32 - 1, 0),
    ("l", ctypes.c_long, -2 ** 63, 0),
    ("L", ctypes.c_ulong, 2 ** 64 - 1, 0),
    ("q", ctypes.c_longlong, -2 ** 63, 0),
    ("Q", ctypes.c_ulonglong, 2 ** 64 - 1, 0),
    ("f", ctypes.c_float, -1.5, 0.0),
    ("d", ctypes.c_double, 1 / 3, 0.0),
]
CODE_IDS = [t[0] for t in TYPECODES]


def sharedctypes(mp):
    return importlib.import_module(mp.__name__ + ".sharedctypes")


def start(ctx, target, *args):
    p = ctx.Process(target=target, args=args)
    p.start()
    return p


def run_child(ctx, target, *args):
    """Run target(*args) in a child and assert it exited 0."""
    assert join_within(start(ctx, target, *args), 20) == 0


@pytest.fixture(params=["spawn", "forkserver"])
def pctx(request, mp):
    """spawn and forkserver contexts, for cases where the start method matters."""
    if not isinstance(mp, types.ModuleType):
        return mp
    return mp.get_context(request.param)


# --- module surface -------------------------------------------------------------------

def test_module_surface(mp):
    sc = sharedctypes(mp)
    assert sorted(sc.__all__) == sorted(
        ["RawValue", "RawArray", "Value", "Array", "copy", "synchronized"])
    for name in ("Synchronized", "SynchronizedArray", "SynchronizedString"):
        assert issubclass(getattr(sc, name), sc.SynchronizedBase), name
    assert issubclass(sc.SynchronizedString, sc.SynchronizedArray)
    assert isinstance(mp.Value("i"), sc.Synchronized)
    assert isinstance(mp.Array("i", 2), sc.SynchronizedArray)
    assert isinstance(mp.Array("c", 2), sc.SynchronizedString)
    assert isinstance(mp.Array(ctypes.c_char, 2), sc.SynchronizedString)
    assert isinstance(mp.Value(Point), sc.SynchronizedBase)
    assert not isinstance(mp.Array("u", 2), sc.SynchronizedString)


def test_module_level_functions(mp, ctx):
    sc = sharedctypes(mp)
    assert sc.Value("i", 3).value == 3
    assert sc.Value("i", 3, lock=False).value == 3
    assert sc.Value("i", 3, ctx=ctx).get_lock().acquire(False)
    assert list(sc.Array("h", [1, -2])) == [1, -2]
    assert list(sc.Array("h", 2, lock=False, ctx=ctx)) == [0, 0]
    assert sc.RawValue("d", 0.5).value == 0.5
    assert list(sc.RawArray("b", 3)) == [0, 0, 0]


# --- typecodes and ctypes types -------------------------------------------------------

@pytest.mark.parametrize("code,ctype,value,zero", TYPECODES, ids=CODE_IDS)
@pytest.mark.parametrize("factory", ["Value", "RawValue"])
def test_value_typecodes(mp, factory, code, ctype, value, zero):
    v = getattr(mp, factory)(code, value)
    assert v.value == value
    obj = v if factory == "RawValue" else v.get_obj()
    assert type(obj) is ctype
    v.value = zero
    assert v.value == zero
    assert getattr(mp, factory)(code).value == zero
    assert getattr(mp, factory)(ctype, value).value == value


@pytest.mark.parametrize("code,ctype,value,zero", TYPECODES, ids=CODE_IDS)
@pytest.mark.parametrize("factory", ["Array", "RawArray"])
def test_array_typecodes(mp, factory, code, ctype, value, zero):
    arr = getattr(mp, factory)(code, [value, zero, value])
    assert len(arr) == 3
    assert [arr[i] for i in range(3)] == [value, zero, value]
    arr[1] = value
    assert [arr[i] for i in range(3)] == [value] * 3
    sized = getattr(mp, factory)(code, 4)
    assert [sized[i] for i in range(4)] == [zero] * 4
    obj = arr if factory == "RawArray" else arr.get_obj()
    assert isinstance(obj, ctypes.Array) and obj._type_ is ctype
    assert [getattr(mp, factory)(ctype, 2)[i] for i in range(2)] == [zero] * 2


def test_ctypes_types(mp):
    assert mp.Value(ctypes.c_double, 2.5).value == 2.5
    assert mp.Value(ctypes.c_int).value == 0
    assert mp.Value(ctypes.c_bool, True).value is True
    assert mp.RawValue(ctypes.c_uint8, 7).value == 7
    assert list(mp.Array(ctypes.c_double, [1.5, -2.5])) == [1.5, -2.5]
    assert list(mp.RawArray(ctypes.c_int16, 3)) == [0, 0, 0]
    assert mp.Value("f", 0.1).value == ctypes.c_float(0.1).value  # stored as a C float


def test_structure_values(mp):
    v = mp.Value(Point, 3, 2.5)
    assert (v.x, v.y) == (3, 2.5)
    v.x = -4
    v.y = 0.125
    assert (v.x, v.y) == (-4, 0.125)
    obj = v.get_obj()
    assert isinstance(obj, Point) and (obj.x, obj.y) == (-4, 0.125)
    assert not hasattr(v, "value")
    zero = mp.Value(Point)
    assert (zero.x, zero.y) == (0, 0.0)
    raw = mp.RawValue(Point, 1, 2.0)
    assert isinstance(raw, Point) and (raw.x, raw.y) == (1, 2.0)
    assert (mp.RawValue(Point).x, mp.RawValue(Point).y) == (0, 0.0)


def test_char_array_value_and_raw(mp):
    s = mp.Array("c", b"hello")
    assert (s.value, s.raw, len(s)) == (b"hello", b"hello", 5)
    assert s[0] == b"h" and s[1:3] == b"el" and s[:] == b"hello"
    s.value = b"hi"
    assert (s.value, s.raw) == (b"hi", b"hi\x00lo")
    s.raw = b"HELLO"
    assert s.value == b"HELLO"
    with pytest.raises(ValueError):
        s.value = b"too long for it"
    with pytest.raises(ValueError):
        s.raw = b"too long for it"
    assert s.raw == b"HELLO"
    empty = mp.Array("c", 6)
    assert (empty.value, empty.raw) == (b"", b"\x00" * 6)
    raw = mp.RawArray("c", b"abc")
    assert (raw.value, raw.raw) == (b"abc", b"abc")
    raw.value = b"z"
    assert raw.raw == b"z\x00c"


def test_wchar_array(mp):
    w = mp.Array("u", "h\u00e9llo")
    assert len(w) == 5 and w[1] == "\u00e9" and w[:] == "h\u00e9llo"
    w[0] = "H"
    assert w[:2] == "H\u00e9"


# --- bad input: what CPython raises ---------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda mp: mp.Value("z"),
    lambda mp: mp.Value("ii", 1),
    lambda mp: mp.RawValue("z"),
    lambda mp: mp.Array("z", 3),
    lambda mp: mp.Array("z", [1, 2]),
    lambda mp: mp.RawArray("z", [1]),
], ids=["Value", "Value-ii", "RawValue", "Array-size", "Array-seq", "RawArray"])
def test_unknown_typecode_raises_typeerror(mp, call):
    with pytest.raises(TypeError):
        call(mp)


@pytest.mark.parametrize("call,exc", [
    (lambda mp: mp.Value("i", "abc"), TypeError),
    (lambda mp: mp.Value("i", 1, 2), TypeError),
    (lambda mp: mp.Value("c", "x"), TypeError),
    (lambda mp: mp.Array("i", ["a"]), TypeError),
    (lambda mp: mp.Array("i", 3.5), TypeError),
    (lambda mp: mp.RawArray("i", "abc"), TypeError),
    (lambda mp: mp.Array("c", "abc"), TypeError),
    (lambda mp: mp.Array("i", -1), ValueError),
    (lambda mp: mp.RawArray("d", -5), ValueError),
    (lambda mp: mp.Value("i", 5, lock="not a lock"), AttributeError),
    (lambda mp: mp.Array("i", 3, lock=object()), AttributeError),
], ids=["Value-str", "Value-2-args", "Value-c-str", "Array-str-items", "Array-float-size",
        "RawArray-str", "Array-c-str", "Array-negative", "RawArray-negative",
        "Value-bad-lock", "Array-bad-lock"])
def test_bad_arguments_raise_like_cpython(mp, call, exc):
    with pytest.raises(exc):
        call(mp)


def test_wrapper_item_errors(mp):
    arr = mp.Array("i", range(10))
    with pytest.raises(IndexError):
        arr[10]
    with pytest.raises(IndexError):
        arr[-11]
    with pytest.raises(IndexError):
        arr[10] = 1
    with pytest.raises(TypeError):
        arr[0] = "x"
    with pytest.raises(ValueError):
        arr[0:2] = [1]
    assert list(arr) == list(range(10))  # nothing was written


# --- lock options ---------------------------------------------------------------------

def make(mp, factory, **kw):
    return mp.Value("i", 5, **kw) if factory == "Value" else mp.Array("i", range(5), **kw)


@pytest.mark.parametrize("factory", ["Value", "Array"])
@pytest.mark.parametrize("lock", [True, None], ids=["True", "None"])
def test_default_lock_is_recursive(mp, factory, lock):
    obj = make(mp, factory, lock=lock)
    rlock = obj.get_lock()
    assert rlock.acquire(timeout=GET) and rlock.acquire(False)
    assert Background(rlock.acquire, True, 0.05).finish(GET) is False
    rlock.release()
    rlock.release()
    assert make(mp, factory).get_lock() is not rlock  # a lock of its own


@pytest.mark.parametrize("factory", ["Value", "Array"])
@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_given_lock_is_used(mp, factory, kind):
    lock = getattr(mp, kind)()
    obj = make(mp, factory, lock=lock)
    other = make(mp, "Array" if factory == "Value" else "Value", lock=lock)
    assert obj.get_lock() is lock and other.get_lock() is lock
    with obj:
        assert Background(lock.acquire, True, 0.05).finish(GET) is False
    assert lock.acquire(False)
    lock.release()


@pytest.mark.parametrize("factory", ["Value", "Array"])
def test_lock_false_gives_the_raw_object(mp, factory):
    obj = make(mp, factory, lock=False)
    assert isinstance(obj, (ctypes.c_int, ctypes.Array))
    assert not hasattr(obj, "get_lock") and not hasattr(obj, "get_obj")
    with pytest.raises(AttributeError):
        obj.get_lock()
    raw = mp.RawValue("i", 5) if factory == "Value" else mp.RawArray("i", range(5))
    assert not hasattr(raw, "get_lock") and not hasattr(raw, "get_obj")


def test_wrapper_locking_api(mp):
    v = mp.Value("i", 1)
    assert v.acquire() is True
    assert v.acquire(False) is True  # the default lock is recursive
    v.release()
    v.release()
    with v as entered:
        assert entered is True
        v.value += 1
    assert v.value == 2


@pytest.mark.parametrize("factory", ["Value", "Array"])
def test_access_waits_for_the_lock(mp, factory):
    """Reading through the wrapper takes its lock: it waits while another thread holds it."""
    obj = make(mp, factory)
    held_now, go = threading.Event(), threading.Event()

    def holder():
        with held(obj.get_lock()):
            held_now.set()
            go.wait(GET)

    taken = Background(holder)
    assert held_now.wait(GET)
    read = Background(lambda: obj.value if factory == "Value" else obj[2])
    read.thread.join(0.2)
    assert read.thread.is_alive(), "read the value while another thread held the lock"
    go.set()
    assert read.finish(GET) == (5 if factory == "Value" else 2)
    taken.finish(GET)


def test_get_obj_shares_memory(mp):
    v = mp.Value("d", 1.0)
    obj = v.get_obj()
    obj.value = 2.0
    assert v.value == 2.0
    v.value = 3.0
    assert obj.value == 3.0
    arr = mp.Array("i", 4)
    raw = arr.get_obj()
    assert isinstance(raw, ctypes.Array) and len(raw) == 4
    raw[1] = 7
    arr[2] = 9
    assert list(arr) == [0, 7, 9, 0] and list(raw) == [0, 7, 9, 0]


# --- the array wrapper as a sequence --------------------------------------------------

@pytest.mark.parametrize("factory", ["Array", "RawArray"])
def test_array_sequence_operations(mp, factory):
    seq = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831]
    arr = getattr(mp, factory)("i", seq)
    assert len(arr) == len(seq)
    assert arr[3] == seq[3] and arr[-1] == seq[-1] and arr[-10] == seq[0]
    assert list(arr[2:7]) == seq[2:7]
    assert list(arr[::3]) == seq[::3]
    assert list(arr[5:2]) == []
    arr[4:8] = seq[4:8] = array.array("i", [1, 2, 3, 4])
    assert list(arr[:]) == seq
    assert list(arr) == seq
    assert [x for x in arr] == seq
    assert 934 in arr and 999 not in arr
    arr[:] = range(10)
    assert list(arr) == list(range(10))
    arr[-1] = -1
    assert arr[9] == -1


def test_arrays_from_sequences_and_sizes(mp):
    assert list(mp.Array("i", (1, 2, 3))) == [1, 2, 3]
    assert list(mp.Array("i", range(4))) == [0, 1, 2, 3]
    assert list(mp.Array("d", array.array("d", [0.5, 1.5]))) == [0.5, 1.5]
    assert mp.Array("c", bytearray(b"xy")).value == b"xy"
    assert len(mp.Array("i", [])) == 0 and len(mp.RawArray("i", 0)) == 0
    assert list(mp.Array("q", 3)) == [0, 0, 0]


def test_new_objects_are_zeroed(mp):
    """Memory that held data before is zeroed when reused (CPython issue #11675)."""
    for _ in range(3):
        arr = mp.Array("i", 10)
        assert list(arr) == [0] * 10
        arr[:] = range(1, 11)
        raw = mp.RawArray("d", 1000)
        assert bytes(memoryview(raw).cast("B")) == bytes(8000)
        raw[:] = [1.0] * 1000
        v = mp.Value("q")
        assert v.value == 0
        v.value = -1
        del arr, raw, v
    big = mp.RawArray("B", 3 << 20)  # larger than any small-object arena
    assert bytes(memoryview(big)) == bytes(3 << 20)


def test_many_objects_do_not_overlap(mp):
    objs = []
    for i in range(300):
        kind = i % 5
        if kind == 0:
            objs.append(("v", mp.Value("b", i % 100)))
        elif kind == 1:
            objs.append(("v", mp.RawValue("d", i + 0.5)))
        elif kind == 2:
            objs.append(("a", mp.Array("q", [i] * (1 + i % 7))))
        elif kind == 3:
            objs.append(("s", mp.Array("c", b"%05d" % i)))
        else:
            objs.append(("a", mp.RawArray("h", [-i] * (1 + i % 3))))
    for i, (kind, obj) in enumerate(objs):
        want = [(i % 100), i + 0.5, [i] * (1 + i % 7), b"%05d" % i, [-i] * (1 + i % 3)][i % 5]
        got = obj.value if kind in ("v", "s") else list(obj)
        assert got == want, i


# --- synchronized() and copy() --------------------------------------------------------

def test_synchronized(mp):
    sc = sharedctypes(mp)
    raw = mp.RawValue("i", 4)
    s = sc.synchronized(raw)
    assert isinstance(s, sc.Synchronized) and s.value == 4 and s.get_obj() is raw
    s.value = 5
    assert raw.value == 5
    rlock = s.get_lock()
    assert rlock.acquire(False) and rlock.acquire(False)  # recursive by default
    rlock.release()
    rlock.release()
    lock = mp.Lock()
    assert sc.synchronized(mp.RawValue("i"), lock).get_lock() is lock
    arr = sc.synchronized(mp.RawArray("i", [1, 2]))
    assert isinstance(arr, sc.SynchronizedArray) and list(arr) == [1, 2]
    text = sc.synchronized(mp.RawArray("c", b"ab"))
    assert isinstance(text, sc.SynchronizedString) and text.value == b"ab"
    point = sc.synchronized(mp.RawValue(Point, 1, 2.0))
    assert isinstance(point, sc.SynchronizedBase) and (point.x, point.y) == (1, 2.0)
    with pytest.raises(AssertionError):
        sc.synchronized(s)


def test_copy(mp):
    sc = sharedctypes(mp)
    raw = mp.RawValue("i", 5)
    c = sc.copy(raw)
    assert type(c) is ctypes.c_int and c.value == 5
    c.value = 6
    assert raw.value == 5
    raw.value = 7
    assert c.value == 6
    arr = mp.RawArray("d", [1.0, 2.0])
    ca = sc.copy(arr)
    assert list(ca) == [1.0, 2.0]
    ca[0] = 9.0
    assert list(arr) == [1.0, 2.0]
    cp = sc.copy(mp.RawValue(Point, 3, 4.0))
    assert isinstance(cp, Point) and (cp.x, cp.y) == (3, 4.0)
    cs = sc.copy(mp.Value("h", -3).get_obj())
    assert cs.value == -3


# --- repr and pickling ----------------------------------------------------------------

def test_repr(mp):
    assert "Synchronized" in repr(mp.Value("i", 5)) and "5" in repr(mp.Value("i", 5))
    assert "SynchronizedArray" in repr(mp.Array("i", 2))
    assert "SynchronizedString" in repr(mp.Array("c", 2))
    assert "Point" in repr(mp.Value(Point))
    assert repr(mp.RawValue("i", 5)) == "c_int(5)"
    assert repr(mp.Value("i", 5, lock=False)) == "c_int(5)"


@pytest.mark.parametrize("factory", ["Value", "Array"])
def test_pickling_outside_spawning_raises(mp, factory):
    with pytest.raises(RuntimeError, match="inheritance"):
        pickle.dumps(make(mp, factory))


# --- shared with children -------------------------------------------------------------

CHILD_VALUES = [("i", 4343, 24234), ("d", 3.625, -4.25), ("h", -232, 234),
                ("q", 2 ** 33, -2 ** 34), ("c", b"x", b"y"), ("u", "a", "\u00e9"),
                ("f", 0.5, -0.25), ("B", 1, 254)]


def test_values_written_by_a_child(pctx):
    values = [pctx.Value(code, old) for code, old, _ in CHILD_VALUES]
    values += [pctx.RawValue(code, old) for code, old, _ in CHILD_VALUES]
    values += [pctx.Value("i", 1, lock=False), pctx.Value("i", 2, lock=pctx.Lock())]
    new = [n for _, _, n in CHILD_VALUES] * 2 + [-1, -2]
    run_child(pctx, st.set_values, values, new)
    assert [v.value for v in values] == new


@pytest.mark.parametrize("factory", ["Array", "RawArray"])
def test_arrays_rewritten_by_a_child(pctx, factory):
    seq = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831]
    arr = getattr(pctx, factory)("i", seq)
    run_child(pctx, st.prefix_sums, arr)
    sums = [sum(seq[:i + 1]) for i in range(len(seq))]
    assert list(arr) == sums


def test_structures_and_strings_written_by_a_child(ctx):
    point, raw_point = ctx.Value(Point, 1, 1.0), ctx.RawValue(Point, 2, 2.0)
    text, raw_text = ctx.Array("c", 10), ctx.RawArray("c", b"0123456789")
    run_child(ctx, st.set_point, point, -7, 0.75)
    run_child(ctx, st.set_point, raw_point, 8, -0.5)
    run_child(ctx, st.set_string, text, b"written")
    run_child(ctx, st.set_string, raw_text, b"abc")
    assert (point.x, point.y) == (-7, 0.75)
    assert (raw_point.x, raw_point.y) == (8, -0.5)
    assert text.value == b"written" and text.raw == b"written\x00\x00\x00"
    assert raw_text.raw == b"abc\x00456789"


def test_large_raw_array_shared_with_a_child(ctx):
    size = 4 << 20
    data = pattern(size, 11)
    raw = ctx.RawArray("B", size)
    memoryview(raw).cast("B")[:] = data
    r, w = ctx.Pipe(duplex=False)
    p = start(ctx, st.digest_raw, raw, w)
    w.close()
    assert recv_within(r, GET) == digest(data)
    assert join_within(p) == 0
    view = bytes(memoryview(raw).cast("B"))
    assert view[:16] == b"\xa5" * 16
    assert view[16:] == data[16:]


def test_copy_shared_with_a_child(mp, ctx):
    sc = sharedctypes(mp)
    original = ctx.RawValue("i", 1)
    dup = sc.copy(original)
    run_child(ctx, st.set_values, [dup], [77])
    assert (original.value, dup.value) == (1, 77)


def test_many_values_written_by_a_child(ctx):
    values = [ctx.Value("i", i) for i in range(100)]
    run_child(ctx, st.set_values, values, [3 * i for i in range(100)])
    assert [v.value for v in values] == [3 * i for i in range(100)]


def test_values_made_in_a_child(ctx, modname):
    r, w = ctx.Pipe(duplex=False)
    p = start(ctx, st.make_and_report, modname, w)
    w.close()
    assert recv_within(r, GET) == (2 ** 40, [-1, 2, -3], [-3, 2, -1])
    assert join_within(p) == 0


# Values assigned through a synchronized wrapper must land as ctypes itself stores them:
# in range, out of range (ctypes truncates integers), of another number type, or refused.
ASSIGNED = [0, 1, -1, 127, 128, -129, 255, 256, 2 ** 31 - 1, 2 ** 31, -2 ** 31 - 1,
            2 ** 32, 2 ** 63 - 1, 2 ** 63, 2 ** 64 + 5, -2 ** 63 - 1, True, 0.5, -2.75,
            1e300, float("inf"), "7", None]


def _ctypes_store(ctype, value):
    """What ctypes makes of *value* assigned to a fresh *ctype*: its value, or the
    exception type it raises."""
    raw = ctype()
    try:
        raw.value = value
    except Exception as e:
        return type(e)
    return raw.value


@pytest.mark.parametrize("code,ctype,_value,_zero",
                         [t for t in TYPECODES if t[0] not in "cu"], ids=CODE_IDS[2:])
def test_value_assignments_match_ctypes(mp, code, ctype, _value, _zero):
    v = mp.Value(code, 3)
    for value in ASSIGNED:
        want = _ctypes_store(ctype, value)
        try:
            v.value = value
            got = v.value
        except Exception as e:
            got = type(e)
            v.value = 0
        assert got == want or (got != got and want != want), (value, got, want)
        if not isinstance(want, type):
            assert v.get_obj().value == got  # the wrapper's number is the ctypes object's


@pytest.mark.gompx_only
@pytest.mark.parametrize("code", [t[0] for t in TYPECODES])
def test_synchronized_value_takes_the_c_path(mp, code):
    """A number under a gompx lock is read and written in C (sharedctypes.Synchronized's
    ``value``); characters, and locks of other kinds, go through ctypes and the lock's
    methods, with the same results."""
    numeric = code not in "cu"
    for lock, fast_lock in [(True, True), (mp.Lock(), True), (threading.RLock(), False)]:
        v = mp.Value(code, lock=lock)
        kind, is_semlock = v._value_fast_path()
        assert (kind != 0, is_semlock) == (numeric, fast_lock)
        if numeric:
            v.value = 5
            assert (v.value, v.get_obj().value) == (5, 5)
            v.get_obj().value = 6
            assert v.value == 6
        # The lock is free again after every access, whichever path took it.
        assert v.get_lock().acquire(False)
        v.get_lock().release()


@pytest.mark.gompx_only
def test_value_access_releases_the_lock_on_errors(mp):
    v = mp.Value("i", 1)
    with pytest.raises(TypeError):
        v.value = "x"
    with pytest.raises(AttributeError):
        del v.value
    assert v.get_lock().acquire(False)
    v.get_lock().release()
    assert v.value == 1


def test_value_increments_from_two_children(ctx):
    """Two children add to one Value under its lock: no update is lost."""
    v = ctx.Value("q", 0)
    procs = [start(ctx, st.add_under_lock, v, 2000) for _ in range(2)]
    for p in procs:
        assert join_within(p, 30) == 0
    assert v.value == 4000
