package goserve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"unicode"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/workproto"
	"github.com/gompx/gompx/pickle"
	"golang.org/x/sys/unix"
)

// Func is a function served to callers: args are the call's positional
// arguments; the result must be encodable by package pickle.
type Func func(args []any) (any, error)

// EnvFd names the environment variable that tells a worker its socket's
// descriptor; the pools set it.
const EnvFd = "GOMPX_WORKER_FD"

// ErrNotWorker is returned by Serve in a program that no pool started.
var ErrNotWorker = errs.New("goserve: not started as a gompx worker (" + EnvFd +
	" is unset); start this program with gompx.goworkers.GoPool in Python or goserve.NewPool in Go")

var registry struct {
	sync.Mutex
	funcs map[string]Func
	names []string // in registration order, for the hello
}

// Register makes fn callable by name. Like http.HandleFunc it panics on
// programming errors: an empty name, one with spaces or control characters,
// a nil fn, or a name registered twice.
func Register(name string, fn Func) {
	if name == "" || fn == nil {
		panic("goserve: Register needs a name and a function")
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			panic(fmt.Sprintf("goserve: function name %q has a space or control character", name))
		}
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.funcs == nil {
		registry.funcs = make(map[string]Func)
	}
	if _, dup := registry.funcs[name]; dup {
		panic(fmt.Sprintf("goserve: function %q registered twice", name))
	}
	registry.funcs[name] = fn
	registry.names = append(registry.names, name)
}

// IsWorker reports whether a pool started this program as a worker.
func IsWorker() bool {
	_, ok := os.LookupEnv(EnvFd)
	return ok
}

// Serve answers calls until the pool ends the worker, then returns nil. It
// returns ErrNotWorker in a program no pool started, and an error if the
// connection breaks.
func Serve() error {
	fd, err := workerFd()
	if err != nil {
		return err
	}
	// The worker's own children must not hold the socket open, nor think
	// they are workers too.
	os.Unsetenv(EnvFd)
	unix.CloseOnExec(fd)
	signal.Ignore(os.Interrupt)
	if os.Getenv("GOGC") == "" {
		// A worker keeps little alive between calls but allocates per item
		// (decoded arguments, results): collecting a quarter as often cut
		// the worker's time per map item by ~25% (BenchmarkAnswerMap).
		debug.SetGCPercent(400)
	}
	conn, err := gompx.NewConn(fd, true, true)
	if err != nil {
		return errs.Errorf("goserve: %w", err)
	}
	defer conn.Close()
	registry.Lock()
	names := append([]string(nil), registry.names...)
	registry.Unlock()
	hello, err := workproto.AppendHello(nil, workproto.Hello{Pid: os.Getpid(), Impl: "go", Functions: names})
	if err != nil {
		return errs.Errorf("goserve: %w", err)
	}
	if err := conn.SendBytes(hello); err != nil {
		return errs.Errorf("goserve: send hello: %w", err)
	}
	var out bytes.Buffer
	for {
		frame, err := conn.RecvBytes(0)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errs.Errorf("goserve: receive: %w", err)
		}
		req, err := workproto.ParseRequest(frame)
		if err != nil {
			return errs.Errorf("goserve: %w", err)
		}
		out.Reset()
		answer(&out, req)
		if err := conn.SendBytes(out.Bytes()); err != nil {
			return errs.Errorf("goserve: send reply: %w", err)
		}
	}
}

func workerFd() (int, error) {
	s, ok := os.LookupEnv(EnvFd)
	if !ok {
		return -1, ErrNotWorker
	}
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return -1, errs.Errorf("goserve: %s=%q is not a descriptor number", EnvFd, s)
	}
	return fd, nil
}

// answer writes the reply frame for req to out.
func answer(out *bytes.Buffer, req workproto.Request) {
	result, info := run(req)
	if info == nil {
		out.WriteByte(workproto.StatusResult)
		enc, err := pickle.NewEncoder(out, nil)
		if err == nil {
			err = enc.Encode(result)
		}
		if err == nil {
			return
		}
		out.Reset()
		info = &workproto.ErrorInfo{Module: "goserve", Name: KindEncode, Index: -1,
			Message: fmt.Sprintf("%s: result: %v", req.Name, err)}
	}
	frame, err := workproto.AppendErrorReply(out.AvailableBuffer(), *info)
	if err != nil { // only strings and an int: cannot fail, but never send nothing
		frame = []byte{workproto.StatusError}
	}
	out.Write(frame)
}

// run calls the function req names; a nil info means success.
func run(req workproto.Request) (any, *workproto.ErrorInfo) {
	fail := func(kind, format string, args ...any) (any, *workproto.ErrorInfo) {
		return nil, &workproto.ErrorInfo{Module: "goserve", Name: kind, Index: -1, Message: fmt.Sprintf(format, args...)}
	}
	registry.Lock()
	fn := registry.funcs[req.Name]
	registry.Unlock()
	if fn == nil {
		return fail(KindUnknown, "no Go function named %q in this worker", req.Name)
	}
	if len(req.Kwargs) != 0 {
		return fail(KindArgs, "%s: Go functions take no keyword arguments", req.Name)
	}
	// The frame is this request's own buffer: decoded bytes may alias it.
	v, err := pickle.UnmarshalOptions(req.Args, &pickle.DecoderOptions{AliasInput: true})
	if err != nil {
		return fail(KindArgs, "%s: arguments: %v", req.Name, err)
	}
	if req.Op == workproto.OpCall {
		args, ok := v.(pickle.Tuple)
		if !ok {
			return fail(KindArgs, "%s: arguments are a %T, not a tuple", req.Name, v)
		}
		return call(fn, args, -1)
	}
	calls, ok := v.([]any)
	if !ok {
		return fail(KindArgs, "%s: map arguments are a %T, not a list", req.Name, v)
	}
	results := make([]any, len(calls))
	for i, c := range calls {
		args, ok := c.(pickle.Tuple)
		if !ok {
			return fail(KindArgs, "%s: map item %d is a %T, not a tuple", req.Name, i, c)
		}
		r, info := call(fn, args, i)
		if info != nil {
			return nil, info
		}
		results[i] = r
	}
	return results, nil
}

// call runs fn, turning its error or panic into an ErrorInfo.
func call(fn Func, args []any, index int) (result any, info *workproto.ErrorInfo) {
	defer func() {
		if r := recover(); r != nil {
			result, info = nil, &workproto.ErrorInfo{Module: "goserve", Name: KindPanic, Index: index,
				Message: fmt.Sprintf("panic: %v", r), Traceback: string(debug.Stack())}
		}
	}()
	result, err := fn(args)
	if err != nil {
		return nil, &workproto.ErrorInfo{Module: "goserve", Name: KindError, Index: index, Message: err.Error()}
	}
	return result, nil
}
