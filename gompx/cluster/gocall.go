package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/pickle"
)

// The chunk format Python's ClusterPool and `gompx worker` share (gompx/_clusterworker.py):
// a task's body is the pickle of (function, calls, mode, init), function a reference
// to a module-level callable, mode "map" (calls: items), "star" (calls: argument
// tuples) or "apply" (calls: (args, kwargs) pairs; "call" for an executor's, whose
// result that cannot be pickled fails with the pickling error), init None or a pool's
// initializer;
// a result's body is the pickle of (True, [values]) or (False, exception).

// Func is a Go function served over the cluster: positional arguments as package
// pickle decodes them, a result it can encode (as goserve's functions).
type Func func(args []any) (any, error)

// GoHandler returns a Handler that runs chunks whose function is one of funcs, named
// "module:qualname" as Python pickles a reference to it: a Python ClusterPool whose
// function is, say, a stub `square` in module `gofuncs` gets its calls run by
// funcs["gofuncs:square"] on whichever `Serve` takes them. A function that returns an
// error or panics fails its chunk with RuntimeError in Python (*TaskError in Go).
func GoHandler(funcs map[string]Func) Handler {
	return func(_ context.Context, fn string, body []byte) (Status, []byte) {
		out, err := runGoChunk(funcs, body)
		if err != nil {
			return StatusFail, []byte(err.Error())
		}
		return StatusOK, out
	}
}

func runGoChunk(funcs map[string]Func, body []byte) ([]byte, error) {
	v, err := pickle.Unmarshal(body)
	if err != nil {
		return nil, errs.Errorf("gompx: Go worker: bad chunk: %w", err)
	}
	t, ok := v.(pickle.Tuple)
	if !ok || len(t) < 3 {
		return nil, errs.Errorf("gompx: Go worker: a chunk is (function, calls, mode), not %T", v)
	}
	if len(t) > 3 && t[3] != nil {
		return failure("RuntimeError", "a Go worker does not run Python initializers")
	}
	c, ok1 := t[0].(pickle.Class)
	calls, ok2 := t[1].([]any)
	mode, ok3 := t[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return nil, errs.Errorf("gompx: Go worker: a chunk is (function, calls, mode), not (%T, %T, %T)", t[0], t[1], t[2])
	}
	name := c.Module + ":" + c.Name
	f := funcs[name]
	if f == nil {
		return failure("LookupError", "no Go function %s is served here", name)
	}
	values := make([]any, 0, len(calls))
	for _, call := range calls {
		var args []any
		switch mode {
		case "map":
			args = []any{call}
		case "star":
			tup, ok := call.(pickle.Tuple)
			if !ok {
				return failure("TypeError", "starmap arguments must be tuples, not %T", call)
			}
			args = tup
		case "apply", "call": // "call": the executor's apply
			pair, ok := call.(pickle.Tuple)
			if !ok || len(pair) != 2 {
				return failure("TypeError", "bad apply call %T", call)
			}
			if kw, ok := pair[1].(*pickle.Dict); ok && kw.Len() > 0 {
				return failure("TypeError", "Go function %s takes no keyword arguments", name)
			}
			args, _ = pair[0].(pickle.Tuple)
		default:
			return failure("ValueError", "unknown chunk mode %q", mode)
		}
		r, err := callGo(f, args)
		if err != nil {
			return failure("RuntimeError", "Go function %s: %v", name, err)
		}
		values = append(values, r)
	}
	out, err := pickle.Marshal(pickle.Tuple{true, values})
	if err != nil {
		return failure("RuntimeError", "Go function %s returned what pickle cannot encode: %v", name, err)
	}
	return out, nil
}

func callGo(f Func, args []any) (r any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errs.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return f(args)
}

// failure is the pickle of (False, exc), exc an instance of the builtin exception
// class named.
func failure(exc, format string, args ...any) ([]byte, error) {
	return pickle.Marshal(pickle.Tuple{false, &pickle.Object{Class: pickle.Class{Module: "builtins", Name: exc},
		Args: pickle.Tuple{fmt.Sprintf(format, args...)}}})
}

// TaskError is a task that raised in Python (or failed in a Go function) on a worker.
type TaskError struct {
	Func      string // "module:qualname"
	Exception string // the exception's class and arguments, as decoded
	Traceback string // the worker's formatted traceback, when it sent one
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("gompx: %s raised %s", e.Func, e.Exception)
}

// ErrWorkerLost is wrapped by the error of a chunk whose worker process died, or that
// was delivered MaxDeliveries times without an answer (Python's WorkerLostError).
var ErrWorkerLost = errs.New("gompx: worker lost")

// Map calls the Python function fn ("module:qualname", importable on the workers) on
// every item, chunkSize items per chunk (1 if less), on the cluster's `gompx worker`s
// (or Go workers serving fn with GoHandler), and returns the results in order. Items
// and results are the Go values package pickle encodes and decodes. The first failing
// chunk's error is returned: *TaskError for an exception, ErrWorkerLost (wrapped) for
// a lost worker, ErrBadMAC (wrapped) for a worker with another authkey.
func (k *Caller) Map(ctx context.Context, fn string, items []any, chunkSize int) ([]any, error) {
	module, name, ok := strings.Cut(fn, ":")
	if !ok || module == "" || name == "" {
		return nil, errs.Errorf("gompx: function %q is not \"module:qualname\"", fn)
	}
	chunkSize = max(chunkSize, 1)
	job, err := k.NewJob()
	if err != nil {
		return nil, err
	}
	defer k.DropJob(job)
	n := 0
	for start := 0; start < len(items); start += chunkSize {
		calls := items[start:min(start+chunkSize, len(items))]
		body, err := pickle.Marshal(pickle.Tuple{pickle.Class{Module: module, Name: name}, calls, "map", nil})
		if err != nil {
			return nil, errs.Errorf("gompx: encode the arguments of %s: %w", fn, err)
		}
		if err := k.Submit(ctx, job, uint32(n), fn, body); err != nil {
			return nil, err
		}
		n++
	}
	if err := k.SetLength(job, n); err != nil {
		return nil, err
	}
	out := make([]any, 0, len(items))
	for {
		r, err := k.Take(ctx, job, true)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		values, err := decodeOutcome(fn, r)
		if err != nil {
			return nil, err
		}
		out = append(out, values...)
	}
}

// decodeOutcome turns a chunk's result into its values or its error.
func decodeOutcome(fn string, r *Result) ([]any, error) {
	switch r.Status {
	case StatusOK:
	case StatusLost:
		return nil, errs.Errorf("%w: %s: %s", ErrWorkerLost, fn, r.Body)
	case StatusAuth:
		return nil, errs.Errorf("%w: %s", ErrBadMAC, r.Body)
	default:
		return nil, errs.Errorf("gompx: %s: the worker could not run it: %s", fn, r.Body)
	}
	v, err := pickle.Unmarshal(r.Body)
	if err != nil {
		return nil, errs.Errorf("gompx: %s: bad result: %w", fn, err)
	}
	t, ok := v.(pickle.Tuple)
	if !ok || len(t) != 2 {
		return nil, errs.Errorf("gompx: %s: a result is (ok, values), not %T", fn, v)
	}
	if success, _ := t[0].(bool); success {
		values, ok := t[1].([]any)
		if !ok {
			return nil, errs.Errorf("gompx: %s: values are a list, not %T", fn, t[1])
		}
		return values, nil
	}
	te := &TaskError{Func: fn, Exception: fmt.Sprint(t[1])}
	// A Python worker sends ExceptionWithTraceback: rebuild_exc(exception, traceback).
	if o, ok := t[1].(*pickle.Object); ok && strings.HasSuffix(o.Class.Name, "rebuild_exc") && len(o.Args) == 2 {
		te.Exception = describe(o.Args[0])
		te.Traceback, _ = o.Args[1].(string)
	} else {
		te.Exception = describe(t[1])
	}
	return nil, te
}

// describe shows a decoded exception as Python's repr would, roughly: Class('arg').
func describe(v any) string {
	o, ok := v.(*pickle.Object)
	if !ok {
		return fmt.Sprint(v)
	}
	var args []string
	for _, a := range o.Args {
		args = append(args, fmt.Sprintf("%q", fmt.Sprint(a)))
	}
	return o.Class.Name + "(" + strings.Join(args, ", ") + ")"
}
