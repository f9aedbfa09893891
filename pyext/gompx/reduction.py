"""Pickling for inter-process transfer: ``ForkingPickler`` and descriptor hand-over.

Laid out like CPython's ``multiprocessing/reduction.py``.  Objects that own file
descriptors (connections, process sentinels) pickle into an index into the list of
descriptors the spawning ``Popen`` passes to the child; the child maps the index back to
the descriptor it inherited.
"""

import copyreg
import io
import pickle

__all__ = ["ForkingPickler", "register", "dump", "dumps", "loads", "DupFd",
           "inherited_fd", "set_inherited_fds"]

# Protocol 5 everywhere (CPython 3.8+ reads it): out-of-band buffers and the compact opcodes.
PROTOCOL = pickle.HIGHEST_PROTOCOL if pickle.HIGHEST_PROTOCOL >= 5 else pickle.DEFAULT_PROTOCOL


class ForkingPickler(pickle.Pickler):
    """Pickler that honours reducers registered with :meth:`register`."""

    _extra_reducers = {}
    _copyreg_dispatch_table = copyreg.dispatch_table

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dispatch_table = self._copyreg_dispatch_table.copy()
        self.dispatch_table.update(self._extra_reducers)

    @classmethod
    def register(cls, type, reduce):
        """Register a reduce function for a type."""
        cls._extra_reducers[type] = reduce

    @classmethod
    def dumps(cls, obj, protocol=None):
        if not cls._extra_reducers:
            # The C fast path: nothing registered that plain pickle would miss.
            return pickle.dumps(obj, PROTOCOL if protocol is None else protocol)
        buf = io.BytesIO()
        cls(buf, PROTOCOL if protocol is None else protocol).dump(obj)
        return buf.getbuffer()

    loads = staticmethod(pickle.loads)


register = ForkingPickler.register


def dump(obj, file, protocol=None):
    """Replacement for pickle.dump() using ForkingPickler."""
    ForkingPickler(file, PROTOCOL if protocol is None else protocol).dump(obj)


dumps = ForkingPickler.dumps
loads = pickle.loads

# In a child: where the descriptors it inherited are.  A spawned child has them in a run
# starting at one descriptor (an int); a fork-served child has them as a list.
_inherited_fds = None


def set_inherited_fds(fds):
    global _inherited_fds
    _inherited_fds = fds if isinstance(fds, int) else list(fds)


def inherited_fd(index):
    """The descriptor a child inherited as entry *index* of its parent's list."""
    if isinstance(_inherited_fds, int):
        return _inherited_fds + index
    if _inherited_fds is None or not 0 <= index < len(_inherited_fds):
        raise ValueError("no inherited file descriptor #%d in this process" % index)
    return _inherited_fds[index]


class DupFd:
    """A descriptor on its way to a child being spawned: pickles as its index."""

    def __init__(self, fd):
        from .context import get_spawning_popen
        popen = get_spawning_popen()
        if popen is None:
            raise RuntimeError(
                "file descriptors can only be passed to a child process as arguments of "
                "Process (or of the objects given to it); pickling one elsewhere is not "
                "supported by gompx")
        self.index = popen.duplicate_for_child(fd)

    def detach(self):
        return inherited_fd(self.index)
