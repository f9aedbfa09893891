"""Shared memory by name: ``SharedMemory`` and ``ShareableList``.

Laid out like CPython's ``multiprocessing/shared_memory.py``, with the same API, the same
exceptions and the same ``ShareableList`` layout in memory.  The engine differs: a segment
is a ``/dev/shm`` file, as stdlib's (the data first; a header page of gompx's follows), but
its name is also served over a Linux abstract unix socket by the Go core
(``gompx/internal/shmname``, ``gompx.SharedMemory`` in the Go API) of every process that
holds it, and gompx processes attach through that, not through the file system.  ``buf``
is a memoryview of an ``mmap`` of that memory: reads and writes never go through the core.
Any process of the same user may attach by name, a child or not, Python (gompx) or Go; and
so may programs that know nothing of gompx (stock CPython, C code calling ``shm_open``):
they see the data from offset 0, and a size one page more than the data rounded up to
whole pages.  Their ``unlink()`` (or their resource tracker's) removes the ``/dev/shm``
file only: gompx processes still attach by name until a gompx ``unlink()``.  Where
``/dev/shm`` cannot be used the memory is a memfd that only gompx processes reach.

Lifetime: where stdlib's differs, and why
-----------------------------------------
A segment lives while any process holds it (from creating or attaching until
``close()``, or until that process dies, even by SIGKILL) and its name resolves until
``unlink()``: the last holder's ``close()`` and ``unlink()`` remove the file.  If every
holder is SIGKILLed the file is left, but gompx knows it for stale (nobody serves its name)
and removes it at the next create of the name, or the first create of any process.
In the stdlib a segment is a ``/dev/shm`` file that
stays until somebody unlinks it, leaks when every process is SIGKILLed, and is unlinked
by the resource tracker when the process that created it (or, on 3.11, any process that
attached to it) exits, even while others still use it.  Consequences:

- After every holder has closed a segment (or died) without ``unlink()``, it is gone:
  attaching by name raises ``FileNotFoundError``.  Keep one process holding it for as
  long as others may attach.  (``shm.close(); shm.unlink()``, the usual ending, works:
  ``unlink()`` after ``close()`` removes the name if another process still holds the
  segment, and does nothing if nobody does; a second ``unlink()`` raises
  ``FileNotFoundError``.)
- A process that exits does not take the segment from the others; ``unlink()`` by one
  process removes the name only: memory that others map stays valid (as POSIX).
- A ``SharedMemory`` (or ``ShareableList``) given to a ``Process`` reaches the child as
  the segment's memory file, not by name: the child holds the segment from its start,
  even if the parent closes it at once.  Pickled anywhere else it goes by name.
- No resource tracker, no "leaked shared_memory objects" warning.  ``track`` (3.13's
  keyword, accepted on every version) therefore changes nothing: as on Windows, where
  CPython ignores it too, no process ever unlinks a segment on its own, tracked or not,
  and the memory goes with the last process holding it.  ``track=False`` gets what it
  asks for (this process's exit takes nothing from the others); ``track=True`` gets what
  tracking is for (nothing is left behind when every process is gone).

Names, as stdlib's on POSIX (``_USE_POSIX`` is true): ``_name`` is the name with a
leading slash (``_prepend_leading_slash``), ``name`` without it; a made-up name is
``_make_filename()``, ``_SHM_NAME_PREFIX`` and 8 random hex digits, made again while it
is taken.  A subclass's ``_flags`` is read for ``O_CREAT`` and ``O_EXCL`` as ``shm_open``
would (with ``O_CREAT`` alone, attach or else create); the memory is always mapped read
and write, and names are always private to the user (there is no ``_mode``).

Smaller differences: names are per user and per network namespace (another user's
process cannot reach them, as with stdlib's 0600 files); ``size`` is the size asked for
at creation in every process (stdlib reports the file's size on attach); attaching to an
unknown name takes about 0.1 s to fail (the name might be between two holders, one of
which just died); "." and ".." are refused with ``EINVAL`` and a name with a NUL with
``ValueError`` (stdlib cuts the name there); and a ``ShareableList`` sizes a ``str``'s
slot as stdlib does, by its characters, unless its UTF-8 bytes would not fit, when it
gets room for them (stdlib truncates such a string).
"""

import errno
import mmap
import operator
import os
import secrets
import struct
import types
from functools import partial

from . import context, reduction

__all__ = ["SharedMemory", "ShareableList"]

_native = None

_USE_POSIX = True  # POSIX names: a leading slash, one unlink(), _flags

_O_CREX = os.O_CREAT | os.O_EXCL

# FreeBSD (and perhaps other BSDs) limit names to 14 characters: stdlib keeps made-up
# names that short.
_SHM_SAFE_NAME_LENGTH = 14

_SHM_NAME_PREFIX = "/psm_"


def _make_filename():
    """Return a random name for a new segment: ``_SHM_NAME_PREFIX`` and hex digits."""
    nbytes = (_SHM_SAFE_NAME_LENGTH - len(_SHM_NAME_PREFIX)) // 2
    if nbytes < 2:
        raise ValueError("_SHM_NAME_PREFIX %r is too long" % (_SHM_NAME_PREFIX,))
    return _SHM_NAME_PREFIX + secrets.token_hex(nbytes)


def _load_native():
    global _native
    from . import _native as native
    _native = native
    return native


def _with_filename(exc, filename):
    """*exc* (an OSError from the core) as stdlib words it, naming *filename*."""
    if exc.errno in (errno.ENOENT, errno.EEXIST, errno.EINVAL, errno.ENAMETOOLONG):
        text = os.strerror(exc.errno)
    else:  # the core's message says more (another user's name, a stopped process, ...)
        text = exc.strerror
    return type(exc)(exc.errno, text, filename)


def _core(function, name, *args):
    """Call the core's *function* on the segment called *name* (``_name``'s form),
    raising its errors as stdlib words them."""
    native = _native or _load_native()
    try:
        if not name.lstrip("/"):  # the core would take an empty name as "make one up"
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return native.call(getattr(native.ext, function), name, *args)
    except OSError as e:
        if e.filename is not None:
            raise
        raise _with_filename(e, name) from None


def _create(name, size):
    """Create a segment called *name*, or a fresh ``_make_filename()`` one for None;
    return its handle and its name."""
    size = operator.index(size)
    if size <= 0:
        raise ValueError("'size' must be a positive number different from zero")
    if name is not None:
        return _core("gompxcore_SharedMemoryCreate", name, size), name
    while True:
        name = _make_filename()
        try:
            return _core("gompxcore_SharedMemoryCreate", name, size), name
        except FileExistsError:
            continue


def _open_or_create(name, size, tries=50):
    """Attach to the segment called *name*, or create it if there is none (``O_CREAT``
    without ``O_EXCL``); return its handle and whether it was created."""
    for _ in range(tries - 1):
        try:
            return _core("gompxcore_SharedMemoryOpen", name), False
        except FileNotFoundError:
            pass
        try:
            return _create(name, size)[0], True
        except FileExistsError:
            continue  # another process created it in between: attach to that one
    # Still racing (a name created and unlinked over and over): the last try may fail.
    try:
        return _core("gompxcore_SharedMemoryOpen", name), False
    except FileNotFoundError:
        return _create(name, size)[0], True


def _unlink_name(name):
    """Remove the name *name* (of a segment this object does not hold)."""
    handle = _core("gompxcore_SharedMemoryOpen", name)
    try:
        try:
            _native.call(_native.ext.gompxcore_SharedMemoryUnlink, handle)
        except OSError as e:
            raise _with_filename(e, name) from None
    finally:
        _native.ext.gompxcore_SharedMemoryDrop(handle)


class SharedMemory:
    """Creates a new shared memory block or attaches to an existing one by name.

    Every shared memory block has a unique name: one process creates it with
    ``create=True`` (and a name, or ``name=None`` for a made-up one), others attach with
    the name.  ``close()`` ends this object's access; ``unlink()`` removes the name so
    that nobody new can attach.  The memory goes when the last process holding the block
    closes it or exits: see the module's documentation for how that differs from stdlib.
    """

    # Class-level values, so that close(), unlink() and __del__ work on an object whose
    # __init__ raised.
    _name = None
    _handle = None
    _handle_name = None
    _mmap = None
    _buf = None
    _size = 0
    _flags = os.O_RDWR  # create=True sets O_CREAT | O_EXCL on the instance, as stdlib
    _prepend_leading_slash = True
    _track = True

    def __init__(self, name=None, create=False, size=0, *, track=True):
        if not size >= 0:
            raise ValueError("'size' must be a positive integer")
        if create:
            self._flags = _O_CREX | os.O_RDWR
            if size == 0:
                raise ValueError("'size' must be a positive number different from zero")
        exclusive = self._flags & _O_CREX == _O_CREX
        if name is None and not exclusive:
            raise ValueError("'name' can only be None if create=True")
        self._track = track
        if name is not None:
            if not isinstance(name, str):
                raise TypeError('can only concatenate str (not "%s") to str'
                                % type(name).__name__)
            name.encode("utf-8")  # the core takes UTF-8; refuse lone surrogates here
            name = "/" + name if self._prepend_leading_slash else name
        if exclusive:
            handle, name = _create(name, size)
            created = True
        elif self._flags & os.O_CREAT:
            handle, created = _open_or_create(name, size)
        else:
            handle, created = _core("gompxcore_SharedMemoryOpen", name), False
        self._map(handle, name, created)

    def _map(self, handle, name, created):
        """Map the memory of the segment behind the core's *handle* (and own the handle);
        *name* is its name in ``_name``'s form."""
        ext = _native.ext
        self._handle = handle
        self._pid = os.getpid()
        self._name = self._handle_name = name
        self._size = ext.gompxcore_SharedMemorySize(handle)
        try:
            self._mmap = mmap.mmap(ext.gompxcore_SharedMemoryFd(handle), self._size,
                                   offset=ext.gompxcore_SharedMemoryDataOffset(handle))
        except OSError:
            if created:
                _native.call(ext.gompxcore_SharedMemoryUnlink, handle)
            self._drop()
            raise
        self._buf = memoryview(self._mmap)

    def __del__(self):
        try:
            self.close()
        except OSError:
            pass
        self._drop()

    def _drop(self):
        handle, self._handle = self._handle, None
        if handle is not None and _native is not None and self._forked() is False:
            _native.ext.gompxcore_SharedMemoryDrop(handle)

    def _forked(self):
        """Whether this object came through os.fork(): the Go core did not (calls would
        hang), only the mapping did.  None for an object that never had a handle."""
        pid = getattr(self, "_pid", None)
        return None if pid is None else pid != os.getpid()

    def __reduce__(self):
        # To a child being spawned, an open segment travels as its memory file: the child
        # holds it from the start, even if this process closes it before the child could
        # attach by name.  Pickled anywhere else it travels by name, as in stdlib.
        if self._mmap is not None and self._forked() is False \
                and context.get_spawning_popen() is not None:
            fd = _native.call(_native.ext.gompxcore_SharedMemoryFd, self._handle)
            return (_rebuild_shared_memory, (self.__class__, self._name, reduction.DupFd(fd)))
        return (self.__class__, (self.name, False, self.size))

    def __repr__(self):
        return f"{self.__class__.__name__}({self.name!r}, size={self.size})"

    @property
    def buf(self):
        """The block's memory, as a writable memoryview (None after close())."""
        return self._buf

    @property
    def name(self):
        """The name that identifies the block, as given or made up (without the leading
        slash ``_name`` has)."""
        if self._prepend_leading_slash and self._name and self._name.startswith("/"):
            return self._name[1:]
        return self._name

    @property
    def size(self):
        """The size in bytes, as asked for when the block was created."""
        return self._size

    def close(self):
        """Closes access to the shared memory from this instance.

        The block lives on while another process holds it.  Raises BufferError while
        views of ``buf`` (slices, NumPy arrays) are still alive, as stdlib does.
        """
        if self._buf is not None:
            self._buf.release()
            self._buf = None
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None
        if self._handle is not None:
            if self._forked():
                self._handle = None  # the parent's: its Go side did not come along
            else:
                _native.call(_native.ext.gompxcore_SharedMemoryClose, self._handle)

    def unlink(self):
        """Removes the name of the shared memory block, so that nobody new can attach.

        Call it once, from one process.  Processes that hold the block keep using it;
        the memory goes with the last of them.  Raises FileNotFoundError if the block was
        unlinked already.  (As in stdlib, it is the name in ``_name`` that goes: if that
        was reassigned, the block of that name.)
        """
        if self._handle is None:
            return
        if self._forked():
            raise RuntimeError(
                "gompx's Go core does not survive os.fork(), so this process cannot unlink "
                "a segment it inherited by forking: unlink it in the process that created "
                "or attached it, or attach to it by name here first")
        if self._name != self._handle_name:
            _unlink_name(self._name)
            return
        try:
            _native.call(_native.ext.gompxcore_SharedMemoryUnlink, self._handle)
        except OSError as e:
            raise _with_filename(e, self._name) from None


def _rebuild_shared_memory(cls, name, dupfd):
    """In a spawned child: hold the segment whose memory file the parent passed."""
    native = _native or _load_native()
    handle = native.call(native.ext.gompxcore_SharedMemoryAdopt, dupfd.detach())
    self = cls.__new__(cls)
    self._map(handle, name, False)
    return self


_encoding = "utf8"


class ShareableList:
    """A list of fixed length shareable by name through a shared memory block.

    Items are int, float, bool, str, bytes or None, packed into the block as stdlib packs
    them (so the layout is the same); an item may be replaced by another of any of these
    types, a str or bytes item only by one that fits its slot (its original length
    rounded up to 8 bytes).  The list cannot grow or shrink.
    """

    # The block: the item count N as a 64-bit integer; N + 1 offsets of the items' slots
    # from the start of the data area; the data area; N 8-byte struct formats; N
    # one-byte codes naming how to turn a slot's value back into its Python type.
    _types_mapping = {
        int: "q",
        float: "d",
        bool: "xxxxxxx?",
        str: "%ds",
        bytes: "%ds",
        None.__class__: "xxxxxx?x",
    }
    _alignment = 8
    _back_transforms_mapping = {
        0: lambda value: value,                                    # int, float, bool
        1: lambda value: value.rstrip(b"\x00").decode(_encoding),  # str
        2: lambda value: value.rstrip(b"\x00"),                    # bytes
        3: lambda _value: None,                                    # None
    }

    @staticmethod
    def _extract_recreation_code(value):
        """The back-transform code for *value*: 0 plain, 1 str, 2 bytes, 3 None."""
        if isinstance(value, str):
            return 1
        if isinstance(value, bytes):
            return 2
        if value is None:
            return 3
        return 0

    @classmethod
    def _slot_format(cls, value):
        """The struct format *value* is created with (KeyError for other types)."""
        fmt = cls._types_mapping[type(value)]
        if isinstance(value, (str, bytes)):
            # As stdlib: the length (in characters for a str) past the next multiple of 8,
            # or, for a str whose UTF-8 form would not fit there, its UTF-8 length.
            room = cls._alignment * (len(value) // cls._alignment + 1)
            if isinstance(value, str):
                n = len(value.encode(_encoding))
                if n > room:
                    room = cls._alignment * (n // cls._alignment + 1)
            fmt %= room
            if len(fmt) > 8:
                raise ValueError("%s item too long for a ShareableList: its struct "
                                 "format %r is longer than 8 characters"
                                 % (type(value).__name__, fmt))
        return fmt

    def __init__(self, sequence=None, *, name=None):
        if name is None or sequence is not None:
            items = tuple(sequence or ())
            formats = [self._slot_format(item) for item in items]
            self._list_len = len(items)
            offsets = [0]
            for fmt in formats:
                offsets.append(offsets[-1] + (int(fmt[:-1]) if fmt[-1] == "s"
                                              else self._alignment))
            self._allocated_offsets = offsets
            size = struct.calcsize("q" + self._format_size_metainfo + "".join(formats)
                                   + self._format_packing_metainfo
                                   + self._format_back_transform_codes)
            self.shm = SharedMemory(name, create=True, size=size)
            self._write_all(items, formats)
        else:
            self._attached(SharedMemory(name))

    def _write_all(self, items, formats):
        buf = self.shm.buf
        struct.pack_into("q" + self._format_size_metainfo, buf, 0,
                         self._list_len, *self._allocated_offsets)
        struct.pack_into("".join(formats), buf, self._offset_data_start,
                         *(v.encode(_encoding) if isinstance(v, str) else v for v in items))
        struct.pack_into(self._format_packing_metainfo, buf, self._offset_packing_formats,
                         *(f.encode(_encoding) for f in formats))
        struct.pack_into(self._format_back_transform_codes, buf,
                         self._offset_back_transform_codes,
                         *(self._extract_recreation_code(v) for v in items))

    def _position(self, position):
        """*position* as an index into the list, or IndexError."""
        position = position if position >= 0 else position + self._list_len
        if not 0 <= position < self._list_len:
            raise IndexError("Requested position out of range.")
        return position

    def _get_packing_format(self, position):
        """The struct format of the item at *position*, as stored in the block."""
        position = self._position(position)
        (fmt,) = struct.unpack_from("8s", self.shm.buf,
                                    self._offset_packing_formats + position * 8)
        return fmt.rstrip(b"\x00").decode(_encoding)

    def _get_back_transform(self, position):
        """The function that turns the stored value at *position* into its Python type."""
        position = self._position(position)
        (code,) = struct.unpack_from("b", self.shm.buf,
                                     self._offset_back_transform_codes + position)
        return self._back_transforms_mapping[code]

    def _set_packing_format_and_transform(self, position, fmt_as_str, value):
        """Store the struct format and back-transform code of the item at *position*."""
        position = self._position(position)
        struct.pack_into("8s", self.shm.buf, self._offset_packing_formats + position * 8,
                         fmt_as_str.encode(_encoding))
        struct.pack_into("b", self.shm.buf, self._offset_back_transform_codes + position,
                         self._extract_recreation_code(value))

    def __getitem__(self, position):
        try:
            position = self._position(position)
            fmt = self._get_packing_format(position)
        except IndexError:
            raise IndexError("index out of range") from None
        (value,) = struct.unpack_from(fmt, self.shm.buf, self._offset_data_start
                                      + self._allocated_offsets[position])
        return self._get_back_transform(position)(value)

    def __setitem__(self, position, value):
        try:
            position = self._position(position)
            current = self._get_packing_format(position)
        except IndexError:
            raise IndexError("assignment index out of range") from None
        start = self._allocated_offsets[position]
        if isinstance(value, (str, bytes)):
            room = self._allocated_offsets[position + 1] - start
            encoded = value.encode(_encoding) if isinstance(value, str) else value
            if len(encoded) > room:
                raise ValueError("bytes/str item exceeds available storage")
            new_format = current if current[-1] == "s" else self._types_mapping[str] % room
        else:
            new_format = self._types_mapping[type(value)]
            encoded = value
        self._set_packing_format_and_transform(position, new_format, value)
        struct.pack_into(new_format, self.shm.buf, self._offset_data_start + start, encoded)

    def __reduce__(self):
        if context.get_spawning_popen() is not None:  # the block goes as its memory file
            return _rebuild_shareable_list, (self.__class__, self.shm)
        return partial(self.__class__, name=self.shm.name), ()

    def _attached(self, shm):
        self.shm = shm
        self._list_len = len(self)  # read from the block
        self._allocated_offsets = list(struct.unpack_from(
            self._format_size_metainfo, self.shm.buf, 8))

    def __len__(self):
        return struct.unpack_from("q", self.shm.buf, 0)[0]

    def __repr__(self):
        return f"{self.__class__.__name__}({list(self)}, name={self.shm.name!r})"

    @property
    def format(self):
        """The struct formats of all items, concatenated."""
        return "".join(self._get_packing_format(i) for i in range(self._list_len))

    @property
    def _format_size_metainfo(self):
        """The struct format of the N + 1 slot offsets."""
        return "q" * (self._list_len + 1)

    @property
    def _format_packing_metainfo(self):
        """The struct format of the N items' formats."""
        return "8s" * self._list_len

    @property
    def _format_back_transform_codes(self):
        """The struct format of the N back-transform codes."""
        return "b" * self._list_len

    @property
    def _offset_data_start(self):
        return (self._list_len + 2) * 8  # the count, then N + 1 offsets

    @property
    def _offset_packing_formats(self):
        return self._offset_data_start + self._allocated_offsets[-1]

    @property
    def _offset_back_transform_codes(self):
        return self._offset_packing_formats + self._list_len * 8

    def count(self, value):
        """Return how many items equal *value*."""
        return sum(value == entry for entry in self)

    def index(self, value):
        """Return the index of the first item equal to *value* (ValueError if none)."""
        for position, entry in enumerate(self):
            if value == entry:
                return position
        raise ValueError(f"{value!r} not in this container")

    __class_getitem__ = classmethod(types.GenericAlias)


def _rebuild_shareable_list(cls, shm):
    """In a spawned child: the list over the block the parent passed."""
    self = cls.__new__(cls)
    self._attached(shm)
    return self
