"""The ``cluster`` variant of the Pool, executor and Queue suites (gompx issue #13).

Test modules that set ``CLUSTER_VARIANT = True`` run their ``mp`` tests a third time, with
id ``cluster``: ``mp`` is then gompx whose ``Pool``, ``Queue``, ``JoinableQueue`` (and, in
test_futures.py, ``ProcessPoolExecutor``) are the cluster ones on a ``cluster="local"``
server, so the same test bodies check that a user's program keeps its meaning when it
moves to a cluster.

One ``cluster="local"`` pool (a private ``gompx server`` on 127.0.0.1 and ``gompx worker
--processes 2``) is started per session and its server and workers serve every cluster
pool of the run: starting one per test would cost more than the tests.  Each test's
pool is still its own (its own JetStream consumer, jobs and close/terminate).  Queues
are ``cluster="local"`` named queues, one fresh name each, on the process's one local
queue server.

Tests that cannot apply to a cluster are marked ``no_cluster("why")``; conftest skips
their cluster case with that reason, which ``-rs`` shows.
"""

import itertools
import os

_names = itertools.count()


def _queue_name():
    return "t%d_%d" % (os.getpid(), next(_names))


class ClusterVariant:
    """gompx (or one of its contexts) with the cluster forms of Pool and the queues."""

    def __init__(self, target, url, authkey):
        self._target = target
        self._url = url
        self._authkey = authkey

    def __getattr__(self, name):
        return getattr(self._target, name)

    @property
    def __name__(self):
        return "gompx"

    @property
    def cluster_url(self):
        return self._url

    def options(self):
        """The keyword arguments that put a pool or executor on the session's cluster."""
        return {"cluster": self._url, "authkey": self._authkey}

    def get_context(self, method=None):
        return ClusterVariant(self._target.get_context(method), self._url, self._authkey)

    def Pool(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None):
        return self._target.Pool(processes, initializer, initargs, maxtasksperchild,
                                 **self.options())

    def Queue(self, maxsize=0):
        return self._target.Queue(maxsize, cluster="local", name=_queue_name())

    def JoinableQueue(self, maxsize=0):
        return self._target.JoinableQueue(maxsize, cluster="local", name=_queue_name())


class LocalCluster:
    """The session's ``cluster="local"`` pool, started on first use."""

    def __init__(self):
        self._pool = None

    def variant(self, module):
        if self._pool is None:
            from gompx.process import current_process
            self._pool = module.Pool(2, cluster="local")
            self._authkey = bytes(current_process().authkey)
        return ClusterVariant(module, self._pool._url, self._authkey)

    def stop(self):
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
            pool.join()
