// Package taskpool dispatches tasks to a pool of worker processes and collects their
// results: the engine under gompx's Python Pool and ProcessPoolExecutor. Tasks and
// results are opaque bytes (pickles, for Python); the package knows which worker holds
// which task, so a worker that dies fails exactly the task it was running and its other
// tasks go to the workers that remain.
//
// # Moving parts
//
//	piece        what it is                                   who writes            who reads
//	task queue   one gompx.Queue per worker                   the pool (dispatch)   that worker
//	result queue one gompx.Queue for the pool                 workers, supervisors  one reader at a time (see below)
//	board        a memfd, one 64-byte slot per worker slot    the worker            the reader, after the worker died
//	supervisor   one goroutine per worker, blocked in Wait    -                     -
//
// Dispatch runs inline, under the pool's lock, whenever tasks are submitted or results
// come in: each worker holds at most a window of sent-but-unanswered tasks, sized so
// that it holds about 2 ms of work by the running average of task times (2 to 256
// tasks). Short tasks thus travel in batches. A worker that has not answered for 8
// times the average task time (2 ms at least) gets no more, and the tasks still unread
// in its queue are read back out by the pool and given to idle workers (steal.go), so a
// long task holds up no short one that another worker could run.
//
// The result queue has one reader at a time, holding a token: a goroutine waiting for
// a job (Wait, Take) reads it itself, so a result wakes its waiter directly; a collector
// goroutine reads while nobody waits (collect.go).
//
// When a worker exits, its supervisor puts a "worker exited" record into the result
// queue. The queue keeps order, so the reader has seen every result the worker put
// before it died when it reads that record. It then reads the worker's board slot, the
// sequence number of the last task the worker started: that task, if its result has
// not come in, fails with StatusLost and a message naming the exit code; every other
// task the worker held goes back to the head of the pending list (a task whose result
// the worker had computed but not yet sent runs again). The pool then asks its owner,
// through NextEvent, to start a replacement.
//
// # Workers on demand
//
// With Options.OnDemand (concurrent.futures' executor) no worker is started up front:
// the owner calls Reserve once per submitted call, and starts a worker in the slot it
// returns, as CPython's executor does: a call reuses an idle worker (one that answered
// a task since a call last reused it) if there is one, else gets a new worker, up to
// Slots. A worker that exits is replaced only while tasks wait for one. Such an owner
// takes finished jobs and worker events from one place, Next, in one thread.
//
// # Wire format (all integers little-endian)
//
//	task message (pool to worker), KindBytes
//	offset  size  field
//	0       8     job id (0: stop, the worker exits)
//	8       8     index of the task in its job
//	16      8     sequence number of the task on this worker (1, 2, ...)
//	24      4     worker id, to be copied into the result
//	28      4     length h of the job's header
//	32      h     the job's header (for Python: the pickled function)
//	32+h    rest  the task's payload
//
//	result message (worker to pool), KindBytes
//	0       8     job id, as in the task
//	8       8     index, as in the task
//	16      8     sequence number, as in the task
//	24      4     worker id, as in the task
//	28      4     status (StatusOK or StatusError from a worker)
//	32      rest  the result's payload
//
//	board slot (64 bytes per worker slot)
//	0       8     sequence number of the task the worker started last (0: none)
//
// A worker writes its board slot before it runs a task, runs tasks in the order they
// arrive, and sends results in that order (it may send several at once).
//
// # What it does not do
//
// It starts no processes: its owner starts each worker and registers it with AddWorker,
// and starts replacements when NextEvent (or Next) says so. It does not decode tasks or results.
// A task a dead worker had finished but not yet reported runs twice.
package taskpool
