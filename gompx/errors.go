package gompx

import (
	"errors"
	"fmt"
	"io"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/intr"
)

// Errors returned by Conn, Pipe and Wait. They are wrapped with context (use errors.Is);
// end of stream is io.EOF (clean, before a header) or io.ErrUnexpectedEOF (inside a frame).
var (
	// ErrClosed reports an operation on a Conn after Close. Python maps it to
	// OSError("handle is closed").
	ErrClosed = errs.New("connection is closed")

	// ErrNotReadable reports a receive on the write-only end of a one-way pipe.
	ErrNotReadable = errs.New("connection is write-only")

	// ErrNotWritable reports a send on the read-only end of a one-way pipe.
	ErrNotWritable = errs.New("connection is read-only")

	// ErrMessageTooLong reports a message longer than the caller's maxLength. Its
	// payload has been discarded and the connection stays usable: the next receive
	// returns the next message.
	ErrMessageTooLong = errs.New("message longer than maxLength; it was discarded")

	// ErrTimeout reports a wait whose time ran out; nothing was consumed, so the call may
	// be repeated. It is the one timeout of every gompx package (queues, locks, processes,
	// listeners, pools, workers, clusters wrap it), and errors.Is also matches it against
	// os.ErrDeadlineExceeded and context.DeadlineExceeded.
	ErrTimeout = errs.ErrTimeout

	// ErrInterrupted reports that a signal interrupted a wait: RecvHeader's on a Conn
	// made interruptible with SetInterruptible, or, after EnableInterrupts, any wait on
	// the process's main thread. Nothing was consumed: call it again after handling the
	// signal.
	ErrInterrupted = intr.ErrInterrupted

	// ErrBadFrame reports a header no CPython or gompx sender produces (a negative or
	// out-of-range length, or a shared-memory frame on a connection not made by Pipe).
	// The stream cannot be resynchronised: close the connection.
	ErrBadFrame = errs.New("invalid message frame")

	// ErrPayloadPending reports a receive while the payload announced by RecvHeader was
	// neither read with RecvPayload nor dropped with DiscardPayload: call one of them first.
	ErrPayloadPending = errs.New("a message payload is pending; read it with RecvPayload or drop it with DiscardPayload")

	// ErrNoPayload reports RecvPayload or DiscardPayload with no payload pending: call
	// RecvHeader first.
	ErrNoPayload = errs.New("no message payload is pending; call RecvHeader first")

	// ErrAuthentication reports a failed authentication handshake: a wrong digest on
	// either side, or a peer that broke the protocol. Python maps it to
	// multiprocessing.AuthenticationError.
	ErrAuthentication = errs.New("authentication failed")

	// ErrListenerClosed reports Accept on a Listener after Close.
	ErrListenerClosed = errs.New("listener is closed")
)

// TruncatedError reports a stream that ended inside a message frame: Got of the Want
// bytes of the part being read (the 4-byte prefix, the 8-byte length after a -1 prefix,
// or the payload) had arrived. It unwraps to io.ErrUnexpectedEOF. CPython tells the two
// cases apart, and Python code may too: nothing of a part raises EOFError there, some of
// it OSError("got end of file during message").
type TruncatedError struct {
	Got, Want int64
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("%sunexpected EOF after %d of %d bytes", errs.Prefix, e.Got, e.Want)
}

func (e *TruncatedError) Unwrap() error { return io.ErrUnexpectedEOF }

// truncatedAfter adds the bytes of a part read before err's own read started.
func truncatedAfter(err error, before, want int64) error {
	var te *TruncatedError
	if errors.As(err, &te) {
		return &TruncatedError{Got: before + te.Got, Want: want}
	}
	return err
}
