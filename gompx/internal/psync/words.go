package psync

// The words of a mutex and a semaphore block, by offset. The C fast path of gompx's
// Python locks (pyext/csrc/gompxsync.c, struct lockwords) reads and writes the same
// words; its layout is checked against these by tests/test_contract.py, through
// gompx/pyapi and the extensions.
const (
	MutexStateOffset      = 0 // 0 free, else the owner's pid | WaitersBit
	MutexOwnerPidOffset   = 4 // the owner's pid, for takeover after its death
	MutexOwnerStartOffset = 8 // uint64: the owner's start time (a reused pid is not the owner)

	SemaphoreValueOffset   = 0
	SemaphoreWaitersOffset = 4
	SemaphoreBoundOffset   = 8 // 0: unbounded

	// WaitersBit in a mutex state means some process may sleep on it, so Unlock must wake.
	WaitersBit = 1 << 31
)
