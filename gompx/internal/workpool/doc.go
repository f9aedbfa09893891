// Package workpool runs a fixed number of worker processes that answer
// request frames one at a time (layout: internal/workproto), and dispatches
// queued requests to whichever is idle. gompx/pyworker (Python workers for a
// Go program) and gompx/goserve (Go workers for Python or Go) are built on it;
// it deals in bytes and never pickles.
//
// Each worker is started with gompx.Start (KillWithParent) and gets its end
// of a socketpair as fd 3. It must send a hello frame within
// Options.StartTimeout. A goroutine per worker owns it for its whole life:
//
//	slot state   what it waits for                    next
//	starting     the hello                            idle; or the pool fails to start / the slot retries
//	idle         a queued task, its worker's death,   running; replace the worker; retire it
//	             Close or Terminate
//	running      the reply (one frame)                idle; or, on end of stream, the task fails with
//	                                                  an *ExitError naming the exit code and the worker
//	                                                  is replaced
//	retiring     end of stream sent (Close) or        the slot ends
//	             SIGKILL sent (Terminate)
//
// A watcher goroutine per worker waits on its pidfd; when the process exits
// it shuts the parent's end of the socket down, so a blocked read returns
// even if a grandchild inherited the worker's end. A task whose request could
// not be sent (the worker died idle) is queued again at the front rather than
// failed: it never ran. A task canceled while running kills its worker, which
// is then replaced: a call into foreign code cannot be interrupted safely in
// any other way.
//
// Replacement tries three times (50 ms, 250 ms, 1 s apart); a slot that cannot
// start a worker ends, and when the last slot has ended every queued and
// later task fails with the start error, so nothing waits forever.
//
// What it does not do: run more than one request per worker at a time,
// choose a worker by affinity, or restart workers after a number of tasks.
package workpool
