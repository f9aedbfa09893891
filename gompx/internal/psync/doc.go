// Package psync holds synchronization primitives that work across processes: a mutex, a
// counting semaphore, an event, a condition variable and a barrier, each a few words in
// memory that every process maps (a memfd arena, see package arena) and waits on with
// shared futexes.
//
// A primitive is a view: New* zeroes and initializes the words, Open* checks the kind
// tag and wraps words another process initialized. Views hold no memory of their own,
// so any number of processes and goroutines may use views of the same words at once.
//
// # Layout
//
// Every primitive lives in one 64-byte block (a condition in 256 bytes); all fields are little-endian words at
// fixed offsets, the same on every architecture. Offsets 0..15 are what the C fast path
// of gompx's Python extension (pyext/csrc/gompxsync.c) also reads and writes: keep the
// two in step.
//
//	kind           +0        +4        +8          +16 ...                   +60
//	mutex          state     ownerPid  ownerStart                           kind
//	semaphore      value     waiters   maxValue                             kind
//	event          flag      waiters                                        kind
//	condition      wakeups   total     woken                                kind
//	               +64..256: a table of {pid, count, start} per process with waiters
//	barrier        mutex(16 bytes)     +16 cond(12) +28 state +32 count +36 parties  kind
//	               +64..256: a table of {pid, count, start} per process with parties in it
//
// mutex.state is 0 when free, else the owner's pid, with waitersBit set once some
// process may sleep on it. The owner writes ownerStart (its start time in clock ticks,
// from /proc/<pid>/stat) and then ownerPid after taking the state, so that a waiter can
// tell a dead owner from a new process that reuses its pid.
//
// # Owner death
//
// A process that dies holding a mutex does not block the others: a waiter checks the
// owner after each slice of sleep (WaitSlice, then twice the last up to MaxWaitSlice, so
// that a long wait costs about one wake-up a second), and when the owner is gone (no such process, a
// zombie, or a process with the same pid but another start time) takes the mutex over.
// Lock then succeeds and returns ErrOwnerDied, so the new owner knows that whatever the
// mutex guarded may be half-updated. Semaphores count, they do not own: a process that
// dies between acquire and release takes its unit with it, as with POSIX semaphores.
//
// # What it does not do
//
// No fairness (a releasing process may take the mutex again before a woken waiter runs),
// no priority inheritance, and nothing is allocated here: the caller provides the words.
package psync
