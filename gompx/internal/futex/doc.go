// Package futex is a thin wrapper of the Linux futex(2) system call, limited to the two
// operations gompx needs between processes: FUTEX_WAIT and FUTEX_WAKE.
//
// The shared (not the private) operations are used, so a word in a MAP_SHARED mapping
// works across processes that map the same file at different addresses.
//
// Contract, as the kernel states it:
//
//	Wait  sleeps only while *addr still holds val (checked atomically by the kernel);
//	      it returns EAGAIN at once when the word differs, ETIMEDOUT when the timeout
//	      expires, EINTR on a signal, and may return nil spuriously: callers re-check
//	      their condition in a loop.
//	Wake  wakes at most n waiters on addr and returns how many it woke.
//
// Errors are the raw unix.Errno values, unchanged. The package does not retry EINTR,
// does not spin, and knows nothing of what the word means: that belongs to the caller
// (see ../shmring).
package futex
