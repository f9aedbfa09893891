package goserve

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/workpool"
	"github.com/gompx/gompx/gompx/internal/workproto"
	"github.com/gompx/gompx/pickle"
)

// The kinds of *Error, also the class name in the error reply.
const (
	KindError   = "error"   // the function returned an error
	KindPanic   = "panic"   // the function panicked; Stack holds the worker's stack
	KindEncode  = "encode"  // package pickle could not encode the result
	KindArgs    = "args"    // the arguments did not decode, or came with keywords
	KindUnknown = "unknown" // no function of that name is registered
)

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

// Error is the failure of a served function, as its caller sees it.
type Error struct {
	Function string // the name called
	Kind     string // KindError, KindPanic, ...
	Message  string
	Stack    string // the worker's goroutine stack, for KindPanic
	Index    int    // for a map, the position of the item that failed; else -1
}

func (e *Error) Error() string {
	return fmt.Sprintf("%sgo function %s: %s", errs.Prefix, e.Function, strings.TrimPrefix(e.Message, errs.Prefix))
}

// Options configure a Pool.
type Options struct {
	// Path is the worker program (not looked up in $PATH). Required.
	Path string
	// Args are its arguments after argv[0].
	Args []string
	// Workers is the number of worker processes; 0 means runtime.NumCPU().
	Workers int
	// Env is the workers' environment, "KEY=value" each; nil inherits this
	// program's. The pool adds GOMPX_WORKER_FD.
	Env []string
	// Dir is the workers' working directory; "" keeps this program's.
	Dir string
	// StartTimeout bounds each worker's start; 0 means 30 s.
	StartTimeout time.Duration
}

// Pool runs copies of a Go worker program and calls its functions.
type Pool struct {
	pool  *workpool.Pool
	funcs []string
}

// NewPool starts the workers and returns once each has said hello.
func NewPool(opts Options) (*Pool, error) {
	if opts.Path == "" {
		return nil, errs.New("goserve: Options.Path, the worker program, is required")
	}
	if opts.Workers == 0 {
		opts.Workers = runtime.NumCPU()
	}
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, EnvFd+"=") })
	cmd := gompx.Cmd{
		Path: opts.Path,
		Args: append([]string{opts.Path}, opts.Args...),
		Env:  append(env, EnvFd+"="+strconv.Itoa(workpool.WorkerFd)),
		Dir:  opts.Dir,
	}
	p, err := workpool.Start(workpool.Options{
		Kind:         "go worker",
		Workers:      opts.Workers,
		Command:      func() (gompx.Cmd, error) { return cmd, nil },
		StartTimeout: opts.StartTimeout,
	})
	if err != nil {
		return nil, errs.Errorf("goserve: %w", err)
	}
	return &Pool{pool: p, funcs: p.Hello().Functions}, nil
}

// Functions returns the names the workers serve, in registration order.
func (p *Pool) Functions() []string { return slices.Clone(p.funcs) }

// Pids returns the process ids of the live workers.
func (p *Pool) Pids() []int { return p.pool.Pids() }

// Call calls the function name with args and returns its decoded result.
func (p *Pool) Call(ctx context.Context, name string, args ...any) (any, error) {
	argp, err := pickle.Marshal(pickle.Tuple(args))
	if err != nil {
		return nil, errs.Errorf("call %s: arguments: %w", name, err)
	}
	t, err := p.Submit(name, false, argp)
	if err != nil {
		return nil, err
	}
	body, err := t.Wait(ctx)
	if err != nil {
		return nil, err
	}
	v, err := pickle.UnmarshalOptions(body, &pickle.DecoderOptions{AliasInput: true})
	if err != nil {
		return nil, errs.Errorf("call %s: result: %w", name, err)
	}
	return v, nil
}

// Task is a call in flight, made by Submit.
type Task struct {
	name string
	t    *workpool.Task
}

// Submit queues a call of name without waiting. args is the pickle of a
// tuple of arguments or, when batch is true, of a list of such tuples (one
// call each, results in a list). The pool keeps args until the task ends.
func (p *Pool) Submit(name string, batch bool, args []byte) (*Task, error) {
	op := workproto.OpCall
	if batch {
		op = workproto.OpMap
	}
	req, err := workproto.AppendRequest(nil, op, name, args, nil)
	if err != nil {
		return nil, errs.Errorf("call %s: %w", name, err)
	}
	t, err := p.pool.Submit(req)
	if err != nil {
		return nil, errs.Errorf("call %s: %w", name, err)
	}
	return &Task{name: name, t: t}, nil
}

// Done is closed when the task has finished.
func (t *Task) Done() <-chan struct{} { return t.t.Done() }

// Cancel gives up on the task: a queued one never runs, a running one has
// its worker killed and replaced.
func (t *Task) Cancel() { t.t.Cancel(ErrCanceled) }

// ErrCanceled is the error of a task given up by Cancel.
var ErrCanceled = errs.New("call canceled")

// Wait waits for the task (canceling it when ctx is done) and returns the
// pickle of its result, or an *Error, an *ExitError, ErrClosed,
// ErrTerminated or ctx's error, wrapped with the function's name.
func (t *Task) Wait(ctx context.Context) ([]byte, error) {
	if _, err := t.t.Wait(ctx); err != nil {
		return nil, errs.Errorf("call %s: %w", t.name, err)
	}
	return t.Result()
}

// Result is Wait for a task that is done.
func (t *Task) Result() ([]byte, error) {
	reply, err := t.t.Result()
	if err != nil {
		return nil, errs.Errorf("call %s: %w", t.name, err)
	}
	status, body, err := workproto.ParseReply(reply)
	if err != nil {
		return nil, errs.Errorf("call %s: %w", t.name, err)
	}
	if status == workproto.StatusResult {
		return body, nil
	}
	info, err := workproto.DecodeError(body)
	if err != nil {
		return nil, errs.Errorf("call %s: %w", t.name, err)
	}
	return nil, &Error{Function: t.name, Kind: info.Name, Message: info.Message, Stack: info.Traceback, Index: info.Index}
}

// Close waits for queued and running calls, then ends the workers. It is
// idempotent.
func (p *Pool) Close() error { return p.pool.Close() }

// Terminate kills the workers at once; queued and running calls fail with
// ErrTerminated. It is idempotent.
func (p *Pool) Terminate() error { return p.pool.Terminate() }

// BeginClose starts Close without waiting: see Done.
func (p *Pool) BeginClose() { p.pool.BeginClose() }

// BeginTerminate starts Terminate without waiting: see Done.
func (p *Pool) BeginTerminate() { p.pool.BeginTerminate() }

// Done is closed once every worker has exited after Close or Terminate.
func (p *Pool) Done() <-chan struct{} { return p.pool.Done() }
