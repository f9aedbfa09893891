"""gompx-only: the numbers Go, C and Python share are defined once and agree.

Python reads every status code and error kind from the core (``gompxcore.Constant``);
the C fast path of the locks (``pyext/csrc/gompxsync.c``) lays out the lock words of
``gompx/internal/psync`` in ``struct lockwords``, whose offsets it exports as
``_gompxsync.LAYOUT``.  These tests fail when one side changes without the other.
"""

import errno
import importlib

import pytest

pytestmark = pytest.mark.gompx_only


def native():
    return importlib.import_module("gompx._native")


def test_c_lock_words_match_go(mp):
    sync = importlib.import_module("gompx._gompxsync")
    c, go = sync.LAYOUT, native().constant
    assert c["word"] == go("MutexStateOffset") == go("SemaphoreValueOffset")
    assert c["aux"] == go("MutexOwnerPidOffset") == go("SemaphoreWaitersOffset")
    assert c["owner_start"] == go("MutexOwnerStartOffset")
    assert c["bound"] == go("SemaphoreBoundOffset")
    assert c["size"] <= go("LockBlockSize")
    assert c["WAITERS_BIT"] == go("LockWaitersBit")


def test_c_slow_path_results_match_go(mp):
    sync = importlib.import_module("gompx._gompxsync")
    c, go = sync.LAYOUT, native().constant
    assert (c["SLOW_TIMED_OUT"], c["SLOW_ACQUIRED"], c["SLOW_TOOK_OVER"]) == (
        go("SyncTimedOut"), go("SyncAcquired"), go("SyncTookOver"))


def test_unknown_constant_is_refused(mp):
    with pytest.raises(RuntimeError, match="no constant"):
        native().constant("NoSuchConstant")


@pytest.mark.parametrize("call, exc, code", [
    (lambda ext: ext.gompxcore_QueueLen(1 << 50), OSError, None),          # closed handle
    (lambda ext: ext.gompxcore_OrphanGraceMs("soon"), ValueError, None),
    (lambda ext: ext.gompxcore_ListenerNew("AF_UNIX", "2f6e6f2f73756368", 1),
     FileNotFoundError, errno.ENOENT),                                     # /no/such
])
def test_errors_cross_as_kind_and_errno(mp, call, exc, code):
    n = native()
    with pytest.raises(exc) as info:
        n.call(call, n.ext)
    assert type(info.value) is exc
    if code is not None:
        assert info.value.errno == code
    # Taken once: a later RuntimeError of Python's own is left as it is.
    assert n.ext.gompxcore_TakeError() == 0
    plain = RuntimeError("not from the core")
    assert n.translate(plain) is plain
