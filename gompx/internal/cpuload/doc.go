// Package cpuload tells a waiter whether spinning can pay on this machine right now.
//
// A waiter spins (polls shared memory or a socket for a few tens of microseconds) so
// that a quick answer is read without the cost of a sleep and a wake-up. That pays only
// while a CPU would otherwise sit idle. When every CPU already has a runnable task (the
// user's CPU-bound work, a peer that has yet to answer), a spin takes a CPU from them,
// and a spin that yields between looks (sched_yield) can hand a whole time slice to a
// CPU-bound process while the answer it waits for arrives: the waiter then reads it
// milliseconds late. Issue #14: spin only while it pays, and never when the machine's
// CPUs are busy.
//
// Busy is the test. It reads the kernel's count of runnable tasks (the fourth field of
// /proc/loadavg, "runnable/total", an instantaneous count, not an average) and compares
// it with the number of CPUs this process may run on. The count includes the caller,
// which is running as it reads, so "busy" is: more runnable tasks than CPUs. A reading
// is kept for Refresh, so a process that spins often reads the file at most
// 1/Refresh times a second (each read ~3 µs).
//
// The package does not spin, does not sleep and does not know who is waiting for what;
// the callers (Conn's receive poll, psync, mpq) keep their own spin windows and ask
// Busy before they start one. shmring does not ask: it only waits mid-message, while
// the other side is copying (see its await). If /proc/loadavg cannot be read, Busy reports
// false and the callers keep the spin policy they had before this package.
package cpuload
