// Package goserve turns a Go program into a worker that Python (or Go) can
// call: main registers named functions and calls Serve, and the program is
// started N times over by gompx.goworkers.GoPool in Python, or by NewPool in
// Go, which send calls and get results back.
//
//	func main() {
//	    goserve.Register("sha256", func(args []any) (any, error) { ... })
//	    if goserve.IsWorker() {
//	        if err := goserve.Serve(); err != nil {
//	            log.Fatal(err)
//	        }
//	        return
//	    }
//	    // started by hand: do something else
//	}
//
// Arguments arrive decoded by package pickle (a Python int as int64, str as
// string, bytes as []byte, list as []any, tuple as pickle.Tuple, dict as
// *pickle.Dict, anything else as *pickle.Object); the result is encoded by
// it, so any value of its type map reaches Python as the matching Python
// value. A function's outcome reaches the caller as follows:
//
//	the function                 Python (gompx.goworkers)              Go (Pool.Call)
//	returns v, nil               v                                     v decoded
//	returns _, err               GoError(err.Error()), kind "error"    *Error, Kind "error"
//	panics                       GoError, kind "panic", Go stack       *Error, Kind "panic", Stack
//	returns what pickle refuses  GoError, kind "encode"                *Error, Kind "encode"
//	is not registered            ValueError before anything is sent    *Error, Kind "unknown"
//	kills the process            WorkerExitedError with the exit code  *ExitError; a new worker takes its place
//
// A worker runs one call at a time: parallelism is the number of processes,
// as with Python's Pool. The transport is one socket on fd 3 (named by
// GOMPX_WORKER_FD) carrying the frames of internal/workproto. A worker
// ignores SIGINT (the caller decides what Ctrl-C means) and dies with its
// parent.
//
// What it does not do: keyword arguments (Go functions take positional ones
// only), streaming results, or state shared between worker processes.
package goserve
