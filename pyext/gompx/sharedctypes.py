"""ctypes objects in memory shared between processes: Value, Array, RawValue, RawArray,
with ``synchronized`` and ``copy``, as ``multiprocessing.sharedctypes`` has them.

The objects are plain ctypes instances laid over a block of a Go arena (``gompx.heap``):
reading and writing them touches the shared bytes directly, with no call into the core.
Value and Array wrap them with a lock (an RLock unless one is given) like the stdlib's.
"""

import ctypes
import weakref

from . import _gompxsync, context, heap, reduction

__all__ = ["RawValue", "RawArray", "Value", "Array", "copy", "synchronized"]

typecode_to_type = {
    "c": ctypes.c_char, "u": ctypes.c_wchar,
    "b": ctypes.c_byte, "B": ctypes.c_ubyte,
    "h": ctypes.c_short, "H": ctypes.c_ushort,
    "i": ctypes.c_int, "I": ctypes.c_uint,
    "l": ctypes.c_long, "L": ctypes.c_ulong,
    "q": ctypes.c_longlong, "Q": ctypes.c_ulonglong,
    "f": ctypes.c_float, "d": ctypes.c_double,
}


def _ctype(typecode_or_type):
    return typecode_to_type.get(typecode_or_type, typecode_or_type)


def _new_value(type_):
    """A zeroed instance of *type_* in shared memory (arena blocks start zeroed)."""
    wrapper = heap.BufferWrapper(ctypes.sizeof(type_))
    return rebuild_ctype(type_, wrapper, None)


def RawValue(typecode_or_type, *args):
    """A ctypes object in shared memory, without a lock."""
    obj = _new_value(_ctype(typecode_or_type))
    obj.__init__(*args)
    return obj


def RawArray(typecode_or_type, size_or_initializer):
    """A ctypes array in shared memory, without a lock: *size_or_initializer* is its
    length (zero-filled) or a sequence of initial values."""
    type_ = _ctype(typecode_or_type)
    if isinstance(size_or_initializer, int):
        return _new_value(type_ * size_or_initializer)
    result = _new_value(type_ * len(size_or_initializer))
    result.__init__(*size_or_initializer)
    return result


def _with_lock(obj, lock, ctx):
    if lock is False:
        return obj
    if lock in (True, None):
        ctx = ctx or context._default_context.get_context()
        lock = ctx.RLock()
    if not hasattr(lock, "acquire"):
        raise AttributeError("%r has no method 'acquire'" % lock)
    return synchronized(obj, lock, ctx=ctx)


def Value(typecode_or_type, *args, lock=True, ctx=None):
    """A ctypes object in shared memory, synchronized by *lock* (True: a new RLock;
    False: none, the raw object is returned)."""
    return _with_lock(RawValue(typecode_or_type, *args), lock, ctx)


def Array(typecode_or_type, size_or_initializer, *, lock=True, ctx=None):
    """A ctypes array in shared memory, synchronized by *lock* as for Value."""
    return _with_lock(RawArray(typecode_or_type, size_or_initializer), lock, ctx)


def copy(obj):
    """A new shared ctypes object holding a copy of *obj*."""
    new_obj = _new_value(type(obj))
    ctypes.pointer(new_obj)[0] = obj
    return new_obj


def synchronized(obj, lock=None, ctx=None):
    """Wrap the shared ctypes object *obj* so that every access holds *lock*."""
    if isinstance(obj, SynchronizedBase):
        raise AssertionError("object already synchronized")
    ctx = ctx or context._default_context.get_context()
    if isinstance(obj, ctypes._SimpleCData):
        return Synchronized(obj, lock, ctx)
    if isinstance(obj, ctypes.Array):
        if obj._type_ is ctypes.c_char:
            return SynchronizedString(obj, lock, ctx)
        return SynchronizedArray(obj, lock, ctx)
    cls = type(obj)
    scls = _class_cache.get(cls)
    if scls is None:
        fields = {name: make_property(name) for name, *_ in cls._fields_}
        scls = _class_cache[cls] = type("Synchronized" + cls.__name__,
                                        (SynchronizedBase,), fields)
    return scls(obj, lock, ctx)


#
# Passing ctypes objects to children
#

def reduce_ctype(obj):
    context.assert_spawning(obj)
    if isinstance(obj, ctypes.Array):
        return rebuild_ctype, (obj._type_, obj._wrapper, obj._length_)
    return rebuild_ctype, (type(obj), obj._wrapper, None)


def rebuild_ctype(type_, wrapper, length):
    if length is not None:
        type_ = type_ * length
    reduction.ForkingPickler.register(type_, reduce_ctype)
    obj = type_.from_buffer(wrapper.create_memoryview())
    obj._wrapper = wrapper  # keeps the block referenced while the object lives
    return obj


#
# Synchronized wrappers
#

_prop_cache = {}
_class_cache = weakref.WeakKeyDictionary()


def make_property(name):
    """A property reading and writing attribute *name* of the wrapped object under
    the wrapper's lock."""
    prop = _prop_cache.get(name)
    if prop is None:
        def get(self):
            self.acquire()
            try:
                return getattr(self._obj, name)
            finally:
                self.release()

        def set(self, value):
            self.acquire()
            try:
                setattr(self._obj, name, value)
            finally:
                self.release()

        prop = _prop_cache[name] = property(get, set)
    return prop


class SynchronizedBase:
    """A shared ctypes object with the lock that guards it."""

    def __init__(self, obj, lock=None, ctx=None):
        self._obj = obj
        if lock:
            self._lock = lock
        else:
            ctx = ctx or context._default_context.get_context()
            self._lock = ctx.RLock()
        self.acquire = self._lock.acquire
        self.release = self._lock.release

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *args):
        return self._lock.__exit__(*args)

    def __reduce__(self):
        context.assert_spawning(self)
        return synchronized, (self._obj, self._lock)

    def get_obj(self):
        return self._obj

    def get_lock(self):
        return self._lock

    def __repr__(self):
        return "<%s wrapper for %s>" % (type(self).__name__, self._obj)


class Synchronized(SynchronizedBase, _gompxsync.SyncValue):
    # ``value`` is the C type's: lock, read or write the number in place, unlock, in one
    # call (the property's two Python frames were most of the time the lock is held).

    def __init__(self, obj, lock=None, ctx=None):
        SynchronizedBase.__init__(self, obj, lock, ctx)
        self._bind_value(self._obj, self._lock)


class SynchronizedArray(SynchronizedBase):

    def __len__(self):
        return len(self._obj)

    def __getitem__(self, i):
        with self._lock:
            return self._obj[i]

    def __setitem__(self, i, value):
        with self._lock:
            self._obj[i] = value


class SynchronizedString(SynchronizedArray):
    value = make_property("value")
    raw = make_property("raw")
