"""Contexts: the start methods and the factories bound to each.

Laid out like CPython's ``multiprocessing/context.py``.  The start methods are a table
(``_concrete_contexts``), not an ``if``: each maps to a context whose ``Process`` uses one
``popen_*`` module.  gompx offers ``spawn`` (the default) and ``forkserver``; ``fork`` is
refused because the Go runtime does not survive ``fork()``.
"""

import os
import sys
import threading

from . import process
from . import reduction as _reduction

__all__ = ["BaseContext", "DefaultContext", "SpawnContext", "ForkServerContext",
           "ProcessError", "BufferTooShort", "TimeoutError", "AuthenticationError",
           "get_spawning_popen", "set_spawning_popen", "assert_spawning"]


class ProcessError(Exception):
    pass


class BufferTooShort(ProcessError):
    pass


class TimeoutError(ProcessError):
    pass


class AuthenticationError(ProcessError):
    pass


_FORK_REFUSED = (
    "gompx does not support the 'fork' start method: its Go runtime does not survive "
    "fork() (a forked child hangs on its first blocking Go call). Use 'spawn' (the "
    "default) or 'forkserver'.")


class BaseContext:
    """The factories of ``multiprocessing``, bound to one start method."""

    ProcessError = ProcessError
    BufferTooShort = BufferTooShort
    TimeoutError = TimeoutError
    AuthenticationError = AuthenticationError

    current_process = staticmethod(process.current_process)
    parent_process = staticmethod(process.parent_process)
    active_children = staticmethod(process.active_children)

    def cpu_count(self):
        """Return the number of CPUs in the system."""
        num = os.cpu_count()
        if num is None:
            raise NotImplementedError("cannot determine number of cpus")
        return num

    def Pipe(self, duplex=True):
        """Return two Connection objects connected by a pipe."""
        from .connection import Pipe
        return Pipe(duplex)

    def Queue(self, maxsize=0, *, capacity=None, cluster=None, name=None, **cluster_options):
        """Return a queue object (shared memory; see gompx.queues).

        With ``name="jobs"`` (and ``cluster="nats://host:4222,..."``, ``"local"``, or
        ``GOMPX_CLUSTER`` set), a named queue on a NATS JetStream cluster that processes
        on any machine open by name (gompx._clusterqueue)."""
        if name is not None or cluster is not None:
            from ._clusterqueue import Queue as ClusterQueue
            _no_capacity(capacity)
            return ClusterQueue(maxsize, ctx=self.get_context(), cluster=cluster, name=name,
                                **cluster_options)
        _no_options(cluster_options)
        from .queues import Queue
        return Queue(maxsize, ctx=self.get_context(), capacity=capacity)

    def JoinableQueue(self, maxsize=0, *, capacity=None, cluster=None, name=None,
                      **cluster_options):
        """Return a queue whose items are marked done (task_done/join); with ``name=``,
        a named cluster queue (see Queue)."""
        if name is not None or cluster is not None:
            from ._clusterqueue import JoinableQueue as ClusterJoinableQueue
            _no_capacity(capacity)
            return ClusterJoinableQueue(maxsize, ctx=self.get_context(), cluster=cluster,
                                        name=name, **cluster_options)
        _no_options(cluster_options)
        from .queues import JoinableQueue
        return JoinableQueue(maxsize, ctx=self.get_context(), capacity=capacity)

    def SimpleQueue(self, *, capacity=None):
        """Return an unbounded queue with only put, get, empty and close."""
        from .queues import SimpleQueue
        return SimpleQueue(ctx=self.get_context(), capacity=capacity)

    def Pool(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None,
             *, cluster=None, **cluster_options):
        """Returns a process pool object (dispatch and results in the Go core).

        With ``cluster="nats://host:4222,..."`` or ``"local"`` (default: the
        ``GOMPX_CLUSTER`` environment variable), tasks run on ``gompx worker`` machines
        through NATS JetStream (``gompx.cluster.ClusterPool``; its keyword options:
        authkey, insecure, replicas, ack_wait, credentials)."""
        if cluster is None:
            cluster = os.environ.get("GOMPX_CLUSTER") or None
        if cluster is not None:
            from .cluster import ClusterPool
            return ClusterPool(processes, initializer, initargs, maxtasksperchild,
                               context=self.get_context(), cluster=cluster, **cluster_options)
        if cluster_options:
            raise TypeError("unexpected keyword arguments: %s" % ", ".join(sorted(cluster_options)))
        from .pool import Pool
        return Pool(processes, initializer, initargs, maxtasksperchild,
                    context=self.get_context())

    def Manager(self):
        """A started SyncManager: shared objects served by a manager process."""
        from .managers import SyncManager
        m = SyncManager(ctx=self.get_context())
        m.start()
        return m

    def Lock(self):
        """A non-recursive lock shared by processes."""
        from .synchronize import Lock
        return Lock(ctx=self.get_context())

    def RLock(self):
        """A recursive lock shared by processes."""
        from .synchronize import RLock
        return RLock(ctx=self.get_context())

    def Condition(self, lock=None):
        """A condition variable shared by processes."""
        from .synchronize import Condition
        return Condition(lock, ctx=self.get_context())

    def Semaphore(self, value=1):
        """A semaphore shared by processes."""
        from .synchronize import Semaphore
        return Semaphore(value, ctx=self.get_context())

    def BoundedSemaphore(self, value=1):
        """A bounded semaphore shared by processes."""
        from .synchronize import BoundedSemaphore
        return BoundedSemaphore(value, ctx=self.get_context())

    def Event(self):
        """An event shared by processes."""
        from .synchronize import Event
        return Event(ctx=self.get_context())

    def Barrier(self, parties, action=None, timeout=None):
        """A barrier shared by processes."""
        from .synchronize import Barrier
        return Barrier(parties, action, timeout, ctx=self.get_context())

    def RawValue(self, typecode_or_type, *args):
        """A shared ctypes object without a lock."""
        from .sharedctypes import RawValue
        return RawValue(typecode_or_type, *args)

    def RawArray(self, typecode_or_type, size_or_initializer):
        """A shared ctypes array without a lock."""
        from .sharedctypes import RawArray
        return RawArray(typecode_or_type, size_or_initializer)

    def Value(self, typecode_or_type, *args, lock=True):
        """A synchronized shared ctypes object."""
        from .sharedctypes import Value
        return Value(typecode_or_type, *args, lock=lock, ctx=self.get_context())

    def Array(self, typecode_or_type, size_or_initializer, *, lock=True):
        """A synchronized shared ctypes array."""
        from .sharedctypes import Array
        return Array(typecode_or_type, size_or_initializer, lock=lock,
                     ctx=self.get_context())

    def freeze_support(self):
        """Nothing to do outside frozen Windows executables; kept for compatibility."""

    def get_logger(self):
        from .util import get_logger
        return get_logger()

    def log_to_stderr(self, level=None):
        from .util import log_to_stderr
        return log_to_stderr(level)

    def allow_connection_pickling(self):
        """Connections pickle whenever a child is spawned; nothing to register."""
        from . import connection  # noqa: F401 (imported for its effect, as stdlib does)

    def set_executable(self, executable):
        """Set the interpreter that spawned children run."""
        from .spawn import set_executable
        set_executable(executable)

    def set_forkserver_preload(self, module_names):
        """Modules the fork server imports once, before it forks any child."""
        from .forkserver import set_forkserver_preload
        set_forkserver_preload(module_names)

    def get_context(self, method=None):
        if method is None:
            return self
        if method == "fork":
            raise ValueError(_FORK_REFUSED)
        try:
            ctx = _concrete_contexts[method]
        except KeyError:
            raise ValueError("cannot find context for %r" % (method,)) from None
        ctx._check_available()
        return ctx

    def get_start_method(self, allow_none=False):
        return self._name

    def set_start_method(self, method, force=False):
        raise ValueError("cannot set start method of concrete context")

    @property
    def reducer(self):
        """The reduction module used to pickle objects for children."""
        return _reduction

    @reducer.setter
    def reducer(self, reduction):
        global _reduction
        _reduction = reduction

    def _check_available(self):
        pass


class Process(process.BaseProcess):
    """A process started with the default context's start method."""

    _start_method = None

    @staticmethod
    def _Popen(process_obj):
        return _default_context.get_context().Process._Popen(process_obj)

    @staticmethod
    def _after_fork():
        return _default_context.get_context().Process._after_fork()


class DefaultContext(BaseContext):
    Process = Process

    def __init__(self, context):
        self._default_context = context
        self._actual_context = None

    def get_context(self, method=None):
        if method is None:
            if self._actual_context is None:
                self._actual_context = self._default_context
            return self._actual_context
        return super().get_context(method)

    def set_start_method(self, method, force=False):
        if self._actual_context is not None and not force:
            raise RuntimeError("context has already been set")
        if method is None and force:
            self._actual_context = None
            return
        self._actual_context = self.get_context(method)

    def get_start_method(self, allow_none=False):
        if self._actual_context is None:
            if allow_none:
                return None
            self._actual_context = self._default_context
        return self._actual_context._name

    def get_all_start_methods(self):
        """The start methods gompx supports, the default first."""
        return ["spawn", "forkserver"]


class SpawnProcess(process.BaseProcess):
    _start_method = "spawn"

    @staticmethod
    def _Popen(process_obj):
        from .popen_spawn_posix import Popen
        return Popen(process_obj)

    @staticmethod
    def _after_fork():
        pass


class ForkServerProcess(process.BaseProcess):
    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj):
        from .popen_forkserver import Popen
        return Popen(process_obj)


class SpawnContext(BaseContext):
    _name = "spawn"
    Process = SpawnProcess


class ForkServerContext(BaseContext):
    _name = "forkserver"
    Process = ForkServerProcess

    def _check_available(self):
        if sys.platform != "linux":
            raise ValueError("forkserver start method not available")


_concrete_contexts = {
    "spawn": SpawnContext(),
    "forkserver": ForkServerContext(),
}
_default_context = DefaultContext(_concrete_contexts["spawn"])

def _force_start_method(method):
    _default_context._actual_context = _concrete_contexts[method]


# The Popen being launched on this thread: reducers of file descriptors and authkeys ask
# it to hand their descriptor to the child.
_tls = threading.local()


def get_spawning_popen():
    return getattr(_tls, "spawning_popen", None)


def set_spawning_popen(popen):
    _tls.spawning_popen = popen


def assert_spawning(obj):
    if get_spawning_popen() is None:
        raise RuntimeError(
            "%s objects should only be shared between processes through inheritance"
            % type(obj).__name__)


def _no_capacity(capacity):
    if capacity is not None:
        raise ValueError("capacity is for local queues; a cluster queue's items are in the cluster")


def _no_options(options):
    if options:
        raise TypeError("unexpected keyword arguments: %s (cluster options need name= and "
                        "cluster=)" % ", ".join(sorted(options)))
