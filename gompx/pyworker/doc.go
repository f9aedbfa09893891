// Package pyworker lets a Go program run Python functions in a pool of
// CPython worker processes: Call("package.module:function", args...) sends
// the arguments as a pickle, a worker imports the function (once), calls it
// and sends back the pickled result, or the exception's module, class name,
// message and traceback as a *PythonError.
//
// The worker loop is worker.py in this directory, embedded in the Go binary
// and run with `python -c`; it uses only Python's standard library, so the
// interpreter needs no gompx install. Functions are found on the worker's
// sys.path: its working directory (Options.Dir) first, then PYTHONPATH and
// the interpreter's site-packages.
//
// Values cross with package pickle, so the Go types on the left of its type
// map arrive as the Python types on the right, and results come back the
// other way (int as int64, list as []any, dict as *pickle.Dict, instances of
// other classes as *pickle.Object). Call is safe for concurrent use: each
// worker runs one call at a time and further calls queue in order.
//
//	outcome                           Call returns
//	the function returned             the decoded result, nil
//	it raised                         nil, *PythonError (ImportError for an unknown module, AttributeError for an unknown function)
//	the worker died during the call   nil, *ExitError naming the exit code; a new worker takes its place
//	ctx was done first                nil, ctx's cause; a running call's worker is killed and replaced
//	Close or Terminate came first     nil, ErrClosed or ErrTerminated
//
// Workers ignore SIGINT (Ctrl-C reaches the whole process group; the Go
// program decides) and die with the Go program (PR_SET_PDEATHSIG).
//
// What it does not do: keyword arguments for Map, share state between
// workers, or time a call out by itself (use a context).
package pyworker
