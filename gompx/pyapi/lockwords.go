package pyapi

import "github.com/gompx/gompx/gompx/internal/psync"

// The lock words the C fast path of the Python locks shares with package psync, for the
// facade to expose (tests/test_contract.py compares them with the C struct's offsets).
const (
	MutexStateOffset       = psync.MutexStateOffset
	MutexOwnerPidOffset    = psync.MutexOwnerPidOffset
	MutexOwnerStartOffset  = psync.MutexOwnerStartOffset
	SemaphoreValueOffset   = psync.SemaphoreValueOffset
	SemaphoreWaitersOffset = psync.SemaphoreWaitersOffset
	SemaphoreBoundOffset   = psync.SemaphoreBoundOffset
	LockWaitersBit         = psync.WaitersBit
	LockBlockSize          = psync.BlockSize
)
