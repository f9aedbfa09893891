package gompxcore

import (
	"errors"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
)

// RecvTimedOut is what ConnRecv returns when the timeout expired, or a signal arrived,
// before a message began: nothing was consumed, call again.
const RecvTimedOut = -1

// millis turns a Python-side timeout in milliseconds into a core timeout; negative waits
// forever.
func millis(ms int) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

// PipeNew creates both ends of multiprocessing.Pipe(duplex) and returns their handles
// packed as first<<32 | second.
func PipeNew(duplex bool) (packed int64, err error) {
	defer recoverInto(&err)
	a, b, err := gompx.Pipe(duplex)
	if err != nil {
		return 0, translate(err)
	}
	return handles.put(forPython(a))<<32 | handles.put(forPython(b)), nil
}

// ConnNew wraps an existing file descriptor (a socket or pipe) as a connection speaking
// CPython's wire format. The connection owns fd from now on.
func ConnNew(fd int, readable, writable bool) (h int64, err error) {
	defer recoverInto(&err)
	if fd < 0 {
		return 0, newPyError(ErrKindOSError, "invalid file descriptor %d", fd)
	}
	return putConn(gompx.NewConn(fd, readable, writable))
}

// putConn is put for a connection, which forPython prepares first.
func putConn(c *gompx.Conn, err error) (int64, error) {
	if err != nil {
		return 0, translate(err)
	}
	return handles.put(forPython(c)), nil
}

// forPython makes c return from a wait interrupted by a signal, so that the interpreter
// runs its handlers (Ctrl-C raises KeyboardInterrupt) and calls again, as os.read does.
func forPython(c *gompx.Conn) *gompx.Conn {
	c.SetInterruptible(true)
	return c
}

// ConnFileno returns the connection's file descriptor.
func ConnFileno(h int64) (fd int, err error) {
	return read(h, (*gompx.Conn).Fd)
}

// ConnClose closes the connection and forgets the handle. Closing twice is harmless.
func ConnClose(h int64) (ok bool, err error) {
	return withOr(h, true, func(c *gompx.Conn) (ok bool, err error) {
		handles.drop(h)
		return true, translate(c.Close())
	})
}

// ConnSend sends the n bytes at addr as one message.
func ConnSend(h int64, addr uintptr, n int) (sent int, err error) {
	passThroughScheduler()
	return with(h, func(c *gompx.Conn) (sent int, err error) {
		return n, c.SendBytes(pyMemory(addr, n))
	})
}

// ConnRecv waits up to timeoutMs for the next message and returns its length, or
// RecvTimedOut. A message of at most capacity bytes is already at addr on return; a
// longer one stays pending until ConnRecvPending or ConnDiscard. A signal while such a
// message's bytes were arriving returns -(length + 2): the rest is pending, to finish
// with ConnRecvPending at the same addr once the handlers ran.
func ConnRecv(h int64, addr uintptr, capacity int, timeoutMs int) (n int64, err error) {
	passThroughScheduler()
	return with(h, func(c *gompx.Conn) (n int64, err error) {
		n, err = c.RecvHeader(millis(timeoutMs))
		if err != nil {
			if errors.Is(err, gompx.ErrTimeout) || errors.Is(err, gompx.ErrInterrupted) {
				return RecvTimedOut, nil
			}
			return 0, translate(err)
		}
		if n <= int64(capacity) {
			if err := c.RecvPayload(pyMemory(addr, int(n))); err != nil {
				if errors.Is(err, gompx.ErrInterrupted) {
					return -(n + 2), nil
				}
				return 0, translate(err)
			}
		}
		return n, nil
	})
}

// ConnRecvPending reads the pending payload of n bytes (announced by ConnRecv) into addr.
// RecvTimedOut: a signal interrupted it; what arrived is at addr, and calling again with
// the same addr (after the handlers ran) reads the rest.
func ConnRecvPending(h int64, addr uintptr, n int) (got int, err error) {
	return with(h, func(c *gompx.Conn) (got int, err error) {
		if err := c.RecvPayload(pyMemory(addr, n)); err != nil {
			if errors.Is(err, gompx.ErrInterrupted) {
				return RecvTimedOut, nil
			}
			return 0, translate(err)
		}
		return n, nil
	})
}

// ConnDiscard drops the pending payload, so that a message refused for its length does
// not leave the connection out of step. It returns at once: the payload's bytes are
// skipped by the next receive, so a peer that announces a huge message and sends nothing
// does not hold up the call that refuses it.
func ConnDiscard(h int64) (ok bool, err error) {
	return try(h, (*gompx.Conn).DiscardLater)
}

// ConnPoll reports whether a message (or end of stream) is ready, waiting up to timeoutMs.
// On the main thread a signal ends the wait early with False: wait again for the rest.
func ConnPoll(h int64, timeoutMs int) (ready bool, err error) {
	return with(h, func(c *gompx.Conn) (ready bool, err error) {
		ready, err = c.Poll(millis(timeoutMs))
		if interrupted(err) {
			return false, nil
		}
		return ready, translate(err)
	})
}

// WaitFds waits up to timeoutMs until some of the comma-separated file descriptors are
// readable or hung up, and returns those, comma-separated ("" on timeout).
func WaitFds(fds string, timeoutMs int) (ready string, err error) {
	defer recoverInto(&err)
	list, err := pyapi.ParseInts(fds)
	if err == nil {
		var got []int
		if got, err = gompx.Wait(list, millis(timeoutMs)); err == nil || errors.Is(err, gompx.ErrTimeout) || interrupted(err) {
			return pyapi.JoinInts(got), nil
		}
	}
	return "", translate(err)
}

// ConnExport describes the connection for a child process (pyapi.ExportConn).
func ConnExport(h int64) (exported string, err error) {
	return with(h, pyapi.ExportConn)
}

// ConnImport rebuilds a connection from ConnExport's string (with the descriptors as this
// process numbers them) and returns its handle. The connection owns those descriptors.
func ConnImport(exported string) (h int64, err error) {
	defer recoverInto(&err)
	return putConn(pyapi.ImportConn(exported))
}
