package pyworker

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/workpool"
	"github.com/gompx/gompx/gompx/internal/workproto"
	"github.com/gompx/gompx/pickle"
)

//go:embed worker.py
var workerSource string

// Options configure a Pool.
type Options struct {
	// Python is the interpreter's path (not looked up in $PATH). Required.
	Python string
	// Workers is the number of worker processes; 0 means runtime.NumCPU().
	Workers int
	// Env is the workers' environment, "KEY=value" each; nil inherits the
	// Go program's.
	Env []string
	// Dir is the workers' working directory, first on their sys.path; ""
	// keeps the Go program's.
	Dir string
	// StartTimeout bounds each worker's start (interpreter start-up); 0
	// means 30 s.
	StartTimeout time.Duration
}

var (
	// ErrClosed is returned by calls made after Close or Terminate.
	ErrClosed = workpool.ErrClosed
	// ErrTerminated fails the calls that were queued or running when
	// Terminate was called.
	ErrTerminated = workpool.ErrTerminated
)

// ExitError reports a worker that exited during a call: Code is its exit
// status, or -signum.
type ExitError = workpool.ExitError

// PythonError is an exception a Python function raised.
type PythonError struct {
	Target    string // the "module:function" that was called
	Module    string // the exception class's module ("builtins" for ValueError)
	Name      string // the exception class's qualified name
	Message   string // str() of the exception
	Traceback string // the formatted traceback, as Python prints it
	Index     int    // for Map, the position of the item that raised; else -1
}

func (e *PythonError) Error() string {
	name := e.Name
	if e.Module != "builtins" && e.Module != "" {
		name = e.Module + "." + e.Name
	}
	if e.Message == "" {
		return fmt.Sprintf("%spython %s raised %s", errs.Prefix, e.Target, name)
	}
	return fmt.Sprintf("%spython %s raised %s: %s", errs.Prefix, e.Target, name, e.Message)
}

// Pool is a set of Python worker processes.
type Pool struct {
	pool *workpool.Pool
	n    int
}

// NewPool starts the workers and returns once every one of them is ready.
func NewPool(opts Options) (*Pool, error) {
	if opts.Python == "" {
		return nil, errs.New("pyworker: Options.Python, the interpreter's path, is required")
	}
	if opts.Workers == 0 {
		opts.Workers = runtime.NumCPU()
	}
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	cmd := gompx.Cmd{
		Path: opts.Python,
		Args: []string{opts.Python, "-c", workerSource, strconv.Itoa(workpool.WorkerFd)},
		Env:  env,
		Dir:  opts.Dir,
	}
	p, err := workpool.Start(workpool.Options{
		Kind:         "python worker",
		Workers:      opts.Workers,
		Command:      func() (gompx.Cmd, error) { return cmd, nil },
		StartTimeout: opts.StartTimeout,
	})
	if err != nil {
		return nil, errs.Errorf("pyworker: %w", err)
	}
	return &Pool{pool: p, n: opts.Workers}, nil
}

// Call calls target ("package.module:function", or "module:Class.method")
// with args and returns its decoded result.
func (p *Pool) Call(ctx context.Context, target string, args ...any) (any, error) {
	return p.CallKw(ctx, target, args, nil)
}

// CallKw is Call with keyword arguments: kwargs is a map with string keys, a
// *pickle.Dict or a struct (fields by name), or nil.
func (p *Pool) CallKw(ctx context.Context, target string, args []any, kwargs any) (any, error) {
	argp, err := pickle.Marshal(pickle.Tuple(args))
	if err != nil {
		return nil, errs.Errorf("call %s: arguments: %w", target, err)
	}
	var kwp []byte
	if kwargs != nil {
		if kwp, err = pickle.Marshal(kwargs); err != nil {
			return nil, errs.Errorf("call %s: keyword arguments: %w", target, err)
		}
	}
	body, err := p.do(ctx, workproto.OpCall, target, argp, kwp)
	if err != nil {
		return nil, err
	}
	return decode(target, body)
}

// CallPickled is Call with the pickles as they travel: args is the pickle of
// a tuple, kwargs that of a dict or empty; the result is the pickle the
// worker wrote (protocol 5).
func (p *Pool) CallPickled(ctx context.Context, target string, args, kwargs []byte) ([]byte, error) {
	return p.do(ctx, workproto.OpCall, target, args, kwargs)
}

// Retire asks that the worker process running a call exit, and a fresh one take
// its place, once it has run Tasks calls made with the same Key
// (multiprocessing's maxtasksperchild, counted per caller). Calls with another
// Key, or none, do not count toward it; Tasks <= 0 never retires.
type Retire struct {
	Key   string
	Tasks int
}

// CallPickledRetire is CallPickled, with the calling process retired per r.
func (p *Pool) CallPickledRetire(ctx context.Context, target string, args, kwargs []byte, r Retire) ([]byte, error) {
	return p.doRetire(ctx, workproto.OpCall, target, args, kwargs, r)
}

// do sends one request and returns the pickle of a successful reply.
func (p *Pool) do(ctx context.Context, op workproto.Op, target string, args, kwargs []byte) ([]byte, error) {
	return p.doRetire(ctx, op, target, args, kwargs, Retire{})
}

func (p *Pool) doRetire(ctx context.Context, op workproto.Op, target string, args, kwargs []byte, r Retire) ([]byte, error) {
	if err := checkTarget(target); err != nil {
		return nil, err
	}
	req, err := workproto.AppendRequest(nil, op, target, args, kwargs)
	if err != nil {
		return nil, errs.Errorf("call %s: %w", target, err)
	}
	t, err := p.pool.SubmitRetire(req, r.Key, r.Tasks)
	if err != nil {
		return nil, errs.Errorf("call %s: %w", target, err)
	}
	reply, err := t.Wait(ctx)
	if err != nil {
		return nil, errs.Errorf("call %s: %w", target, err)
	}
	return replyBody(target, reply)
}

// checkTarget refuses a target the worker could not resolve, before it
// costs a round trip.
func checkTarget(target string) error {
	module, name, ok := strings.Cut(target, ":")
	if !ok || module == "" || name == "" {
		return errs.Errorf("call %q: target must be \"package.module:function\"", target)
	}
	return nil
}

// replyBody returns the result pickle of a reply, or its error.
func replyBody(target string, reply []byte) ([]byte, error) {
	status, body, err := workproto.ParseReply(reply)
	if err != nil {
		return nil, errs.Errorf("call %s: %w", target, err)
	}
	if status == workproto.StatusResult {
		return body, nil
	}
	info, err := workproto.DecodeError(body)
	if err != nil {
		return nil, errs.Errorf("call %s: %w", target, err)
	}
	return nil, &PythonError{Target: target, Module: info.Module, Name: info.Name,
		Message: info.Message, Traceback: info.Traceback, Index: info.Index}
}

func decode(target string, body []byte) (any, error) {
	// The body is this call's own buffer: decoded bytes may alias it.
	v, err := pickle.UnmarshalOptions(body, &pickle.DecoderOptions{AliasInput: true})
	if err != nil {
		return nil, errs.Errorf("call %s: result: %w", target, err)
	}
	return v, nil
}

// Close waits for queued and running calls, then ends the workers. Later
// calls fail with ErrClosed. It is idempotent.
func (p *Pool) Close() error { return p.pool.Close() }

// Terminate kills the workers at once; queued and running calls fail with
// ErrTerminated. It is idempotent.
func (p *Pool) Terminate() error { return p.pool.Terminate() }

// Pids returns the process ids of the live workers.
func (p *Pool) Pids() []int { return p.pool.Pids() }
