package gompxcore

import "github.com/gompx/gompx/gompx/pyapi"

// constants is every number the Python layer (and, through tests/test_contract.py, the
// C fast path) shares with Go: each exported constant of this package, by its Go name,
// and the lock-word layout of package psync. TestConstantsTableIsComplete fails when an
// exported constant is missing here.
var constants = map[string]int64{
	"QueueTimedOut": QueueTimedOut, "QueueTorn": QueueTorn, "QueueHeldBase": QueueHeldBase,
	"QueueUnsplittable": QueueUnsplittable, "QueueSpliced": QueueSpliced,
	"JobTimedOut": JobTimedOut, "JobExhausted": JobExhausted, "JobNeedRoom": JobNeedRoom,
	"JobSpliced": JobSpliced, "TakeOrdered": int64(TakeOrdered), "TakeUnordered": int64(TakeUnordered),
	"TakeOutcome": int64(TakeOutcome), "TakeOrderedOK": int64(TakeOrderedOK),
	"RecvTimedOut": RecvTimedOut, "StillRunning": StillRunning,
	"SyncKindLock": pyapi.SyncKindLock, "SyncKindSemaphore": pyapi.SyncKindSemaphore,
	"SyncKindEvent": pyapi.SyncKindEvent, "SyncKindCondition": pyapi.SyncKindCondition,
	"SyncKindBarrier": pyapi.SyncKindBarrier,
	"SyncTimedOut":    SyncTimedOut, "SyncAcquired": SyncAcquired, "SyncTookOver": SyncTookOver,
	"BarrierLast":    BarrierLast,
	"ClusterPending": ClusterPending, "ClusterEnd": ClusterEnd, "ClusterOK": ClusterOK,
	"ClusterLost": ClusterLost, "ClusterAuth": ClusterAuth, "ClusterFail": ClusterFail,
	"GoTaskPending": pyapi.GoTaskPending, "GoTaskResult": pyapi.GoTaskResult, "GoTaskError": pyapi.GoTaskError,
	"GoTaskExited": pyapi.GoTaskExited, "GoTaskClosed": pyapi.GoTaskClosed,
	"ErrKindOSError": ErrKindOSError, "ErrKindEOFError": ErrKindEOFError,
	"ErrKindValueError": ErrKindValueError, "ErrKindRuntimeError": ErrKindRuntimeError,
	"ErrKindSystemError": ErrKindSystemError, "ErrKindTypeError": ErrKindTypeError,
	"ErrKindMemoryError": ErrKindMemoryError, "ErrKindTimeoutError": ErrKindTimeoutError,
	"ErrKindAuthenticationError": ErrKindAuthenticationError,
	"ErrKindBrokenBarrierError":  ErrKindBrokenBarrierError,

	"MutexStateOffset": pyapi.MutexStateOffset, "MutexOwnerPidOffset": pyapi.MutexOwnerPidOffset,
	"MutexOwnerStartOffset": pyapi.MutexOwnerStartOffset,
	"SemaphoreValueOffset":  pyapi.SemaphoreValueOffset, "SemaphoreWaitersOffset": pyapi.SemaphoreWaitersOffset,
	"SemaphoreBoundOffset": pyapi.SemaphoreBoundOffset, "LockWaitersBit": pyapi.LockWaitersBit,
	"LockBlockSize": pyapi.LockBlockSize,
}

// Constant returns the value of the constant the core names name (QueueTimedOut,
// ErrKindOSError, MutexStateOffset, ...). gompx/_native.py reads every number it shares
// with Go from here, once, at import, as CPython's synchronize.py reads SEM_VALUE_MAX
// from _multiprocessing: a number changed in Go changes in Python, and a name Python
// asks for that Go does not have fails the import.
func Constant(name string) (value int64, err error) {
	v, ok := constants[name]
	if !ok {
		return 0, newPyError(ErrKindValueError, "gompx core has no constant %q", name)
	}
	return v, nil
}
