package gompxcore

import (
	"errors"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
)

// ListenerNew binds and listens like multiprocessing.connection.Listener and returns
// the listener's handle. family is "AF_UNIX" or "AF_INET"; addrHex is the hex of the
// address bytes (an AF_UNIX path or b"\0name", or "ip:port"). Authentication is the
// caller's (AuthNew), so that it can be resumed after a signal.
func ListenerNew(family, addrHex string, backlog int) (h int64, err error) {
	defer recoverInto(&err)
	net, addr, err := pyapi.CoreAddress(family, addrHex)
	if err != nil {
		return 0, translate(err)
	}
	return put(gompx.Listen(net, addr, gompx.ListenOptions{Backlog: backlog}))
}

// ListenerAddress returns the hex of the bound address (see ListenerNew).
func ListenerAddress(h int64) (addrHex string, err error) {
	return with(h, func(l *gompx.Listener) (addrHex string, err error) {
		return pyapi.PyAddress(l.Network(), l.Addr()), nil
	})
}

// ListenerLastAccepted returns the hex of the last accepted peer's address ("" for an
// unnamed AF_UNIX peer).
func ListenerLastAccepted(h int64) (addrHex string, err error) {
	return with(h, func(l *gompx.Listener) (addrHex string, err error) {
		return pyapi.PyAddress(l.Network(), l.LastAccepted()), nil
	})
}

// ListenerAccept waits up to timeoutMs for a connection and returns its handle (not yet
// authenticated), or RecvTimedOut.
func ListenerAccept(h int64, timeoutMs int) (conn int64, err error) {
	return with(h, func(l *gompx.Listener) (conn int64, err error) {
		c, err := l.AcceptTimeout(millis(timeoutMs))
		if errors.Is(err, gompx.ErrTimeout) || interrupted(err) {
			return RecvTimedOut, nil
		}
		return putConn(c, err)
	})
}

// ListenerClose stops listening and removes the AF_UNIX socket file. Closing twice is
// harmless.
func ListenerClose(h int64) (ok bool, err error) {
	return withOr(h, true, func(l *gompx.Listener) (ok bool, err error) {
		handles.drop(h)
		return true, translate(l.Close())
	})
}

// ClientConnect connects to a listener at the hex-encoded address (see ListenerNew) and
// returns the connection's handle, not yet authenticated. A missing socket file raises
// FileNotFoundError, nobody listening ConnectionRefusedError, as in CPython.
func ClientConnect(family, addrHex string) (conn int64, err error) {
	defer recoverInto(&err)
	net, addr, err := pyapi.CoreAddress(family, addrHex)
	if err != nil {
		return 0, translate(err)
	}
	return putConn(gompx.Dial(net, addr, nil))
}

// AuthNew prepares the authentication handshake on a connection with the keyLen-byte
// key at keyAddr, and returns its handle for AuthRun. steps is the order of the
// halves: "D" deliver_challenge, "A" answer_challenge ("DA": Listener.accept, "AD":
// Client). digest names the HMAC of the challenge this side sends.
func AuthNew(conn int64, keyAddr uintptr, keyLen int, steps, digest string) (h int64, err error) {
	return with(conn, func(c *gompx.Conn) (h int64, err error) {
		order, err := pyapi.AuthSteps(steps)
		if err != nil {
			return 0, err
		}
		key := append([]byte{}, pyMemory(keyAddr, keyLen)...) // Python's bytes may go away
		hs, err := gompx.NewHandshake(c, key, digest, order...)
		return put(hs, valueError(err))
	})
}

// AuthRun runs the handshake on: True once both sides are authenticated, False if a
// signal interrupted the wait for the peer (call again after running the handlers).
// A wrong digest raises AuthenticationError; the handle is then spent (AuthDrop).
func AuthRun(h int64) (done bool, err error) {
	return with(h, func(hs *gompx.Handshake) (done bool, err error) {
		err = hs.Run()
		if errors.Is(err, gompx.ErrInterrupted) {
			return false, nil
		}
		return err == nil, translate(err)
	})
}

// AuthDrop forgets a handshake handle.
func AuthDrop(h int64) (ok bool, err error) {
	defer recoverInto(&err)
	handles.drop(h)
	return true, nil
}

// The handshake's messages, for a connection-like Python object that is not a gompx
// Connection (CPython's deliver_challenge and answer_challenge take anything with
// send_bytes and recv_bytes): Python carries the messages, Go makes and checks them.
// Each writes its message into the outCap bytes at outAddr and returns its length.

// AuthMessages returns the handshake's fixed messages, space-separated: the challenge
// prefix, the welcome and the failure verdicts (connection.CHALLENGE, WELCOME, FAILURE).
func AuthMessages() (messages string, err error) {
	defer recoverInto(&err)
	challenge, welcome, failure := gompx.AuthMessages()
	return string(challenge) + " " + string(welcome) + " " + string(failure), nil
}

// AuthChallenge writes a new challenge with the digest named.
func AuthChallenge(digest string, outAddr uintptr, outCap int) (n int, err error) {
	defer recoverInto(&err)
	msg, err := gompx.NewChallenge(digest)
	if err != nil {
		return 0, newPyError(ErrKindValueError, "%v", err)
	}
	return copyOut(msg, outAddr, outCap)
}

// AuthAnswer writes the reply to the peer's challenge (msgLen bytes at msgAddr) for the
// keyLen-byte key at keyAddr; AuthenticationError if it is no challenge.
func AuthAnswer(keyAddr uintptr, keyLen int, msgAddr uintptr, msgLen int, outAddr uintptr, outCap int) (n int, err error) {
	defer recoverInto(&err)
	reply, err := gompx.Answer(pyMemory(keyAddr, keyLen), pyMemory(msgAddr, msgLen))
	if err != nil {
		return 0, translate(err)
	}
	return copyOut(reply, outAddr, outCap)
}

// AuthVerdict checks the peer's answer against the challenge this side sent and writes
// the verdict to send back; its length is returned negated when the answer was wrong
// (send the verdict, then raise AuthenticationError).
func AuthVerdict(keyAddr uintptr, keyLen int, challengeAddr uintptr, challengeLen int,
	answerAddr uintptr, answerLen int, outAddr uintptr, outCap int) (n int, err error) {
	defer recoverInto(&err)
	verdict, verr := gompx.Verdict(pyMemory(keyAddr, keyLen), pyMemory(challengeAddr, challengeLen),
		pyMemory(answerAddr, answerLen))
	if verdict == nil {
		return 0, newPyError(ErrKindValueError, "%v", verr)
	}
	n, err = copyOut(verdict, outAddr, outCap)
	if verr != nil {
		n = -n
	}
	return n, err
}

// AuthCheckVerdict raises AuthenticationError unless the peer's verdict (n bytes at
// addr) welcomes this side.
func AuthCheckVerdict(addr uintptr, n int) (ok bool, err error) {
	defer recoverInto(&err)
	err = gompx.CheckVerdict(pyMemory(addr, n))
	return err == nil, translate(err)
}

func copyOut(msg []byte, outAddr uintptr, outCap int) (int, error) {
	if len(msg) > outCap {
		return 0, newPyError(ErrKindValueError, "a %d-byte handshake message does not fit %d bytes", len(msg), outCap)
	}
	return copy(pyMemory(outAddr, outCap), msg), nil
}
