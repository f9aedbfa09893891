package gompxcore

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
	"golang.org/x/sys/unix"
)

// Kinds of error, each the Python exception it becomes (gompx/_native.py maps them, in
// one table, reading these values through Constant).
const (
	ErrKindOSError = 1 + iota
	ErrKindEOFError
	ErrKindValueError
	ErrKindRuntimeError
	ErrKindSystemError
	ErrKindTypeError
	ErrKindMemoryError
	ErrKindTimeoutError
	ErrKindAuthenticationError
	ErrKindBrokenBarrierError
)

// pyError is an error that names the Python exception it should become.
type pyError struct {
	kind  int // an ErrKind
	errno syscall.Errno
	msg   string
}

// Error returns the message and, since gopy calls it on the Python thread that made the
// call, as that call returns, records the error's kind and errno for TakeError on that
// thread: the way the kind crosses as a value, as errno does in C.
func (e *pyError) Error() string {
	lastErrors.Lock()
	lastErrors.code[unix.Gettid()] = int64(e.kind)<<32 | int64(uint32(e.errno))
	lastErrors.Unlock()
	return e.msg
}

// lastErrors holds, per thread, the kind and errno of the last error returned to Python.
var lastErrors = struct {
	sync.Mutex
	code map[int]int64
}{code: make(map[int]int64)}

// TakeError returns kind<<32 | errno of the last error a call made on this thread
// returned (the RuntimeError being handled), and forgets it; 0 if there is none.
func TakeError() (code int64, err error) {
	tid := unix.Gettid()
	lastErrors.Lock()
	defer lastErrors.Unlock()
	code = lastErrors.code[tid]
	delete(lastErrors.code, tid)
	return code, nil
}

func newPyError(kind int, format string, args ...any) error {
	for i, a := range args {
		if err, ok := a.(error); ok && err != nil {
			args[i] = pyText(err)
		}
	}
	return &pyError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// translate maps a core error to the exception CPython's multiprocessing raises in the
// same situation.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pe *pyError
	if errors.As(err, &pe) {
		return pe
	}
	var errno syscall.Errno
	var truncated *gompx.TruncatedError
	switch {
	case errors.Is(err, pyapi.ErrBadInput):
		return &pyError{kind: ErrKindValueError, msg: pyText(err)}
	case errors.Is(err, gompx.ErrAuthentication):
		return &pyError{kind: ErrKindAuthenticationError, msg: pyText(err)}
	case errors.Is(err, gompx.ErrListenerClosed):
		return &pyError{kind: ErrKindOSError, msg: "listener is closed"}
	case errors.Is(err, gompx.ErrClosed):
		return &pyError{kind: ErrKindOSError, msg: "handle is closed"}
	case errors.Is(err, gompx.ErrNotReadable):
		return &pyError{kind: ErrKindOSError, msg: "connection is write-only"}
	case errors.Is(err, gompx.ErrNotWritable):
		return &pyError{kind: ErrKindOSError, msg: "connection is read-only"}
	case errors.Is(err, gompx.ErrMessageTooLong):
		return &pyError{kind: ErrKindOSError, msg: "bad message length: " + pyText(err)}
	case errors.As(err, &truncated) && truncated.Got > 0:
		// CPython's _recv: end of file inside a part it had begun to read.
		return &pyError{kind: ErrKindOSError, msg: "got end of file during message: " + pyText(err)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &pyError{kind: ErrKindEOFError, msg: pyText(err)}
	case errors.As(err, &errno):
		return &pyError{kind: ErrKindOSError, errno: errno, msg: pyText(err)}
	}
	return &pyError{kind: ErrKindOSError, msg: pyText(err)}
}

// pyText is err's message for Python: without the "gompx: " every core message starts
// with, since Python's messages name no package (CPython's say "handle is closed").
func pyText(err error) string { return strings.TrimPrefix(err.Error(), "gompx: ") }

// interrupted reports an error that says a signal ended a wait on the main thread
// (gompx.EnableInterrupts, called at load). Nothing was consumed: the facade reports it
// as the wait's "not yet" result (a timeout), and the Python caller, back in the eval
// loop, runs its signal handlers (Ctrl-C raises KeyboardInterrupt) and, if none
// raised, calls again for the time that is left.
func interrupted(err error) bool { return errors.Is(err, gompx.ErrInterrupted) }

// recoverInto turns a panic into an error in *err. Deferred by every exported function.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = &pyError{kind: ErrKindSystemError, msg: fmt.Sprintf("gompx internal error (Go panic): %v\n%s", r, debug.Stack())}
	}
}
