// Package intr lets a signal end a blocked wait on an embedding interpreter's main
// thread, so that the interpreter can run its signal handlers without waiting in slices.
//
// CPython runs Python signal handlers only on its main thread, between bytecodes. Its C
// handler (installed without SA_RESTART) only sets a flag; a system call the main thread
// was blocked in fails with EINTR, and the caller returns to the eval loop, which runs
// the handler (Ctrl-C raises KeyboardInterrupt) and, if nothing raised, waits again for
// the rest of the time. A Go function called from C runs on the calling C thread, so a
// futex or poll system call made there by the gompx core fails with EINTR the same way.
//
//	| intr enabled | thread                        | EINTR in a wait                        |
//	|--------------|-------------------------------|----------------------------------------|
//	| no (Go use)  | any                           | retried with the time that is left     |
//	| yes          | main thread (tid == pid)      | the wait returns ErrInterrupted        |
//	| yes          | any other thread              | retried with the time that is left     |
//
// Only the process's main thread returns: signal handlers run there, and the kernel
// hands a process-directed signal to the main thread first when it does not block it.
// A spurious EINTR (Go's own preemption signal, SIGURG, landing just as the thread
// enters the system call) costs the embedder one more call with the time that is left.
//
// Waits that block inside the Go scheduler (channels, sync.Cond, timers) are not woken
// by signals at all: a wait that may run on the main thread blocks in a system call, or
// bounds its channel waits with MainSlice when MustSlice reports the main thread.
//
// What it does not do: it never installs a signal handler, and it does not know which
// signal arrived; the embedder checks its own flags.
package intr
