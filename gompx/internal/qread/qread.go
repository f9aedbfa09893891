// Package qread is the in-place reading side of a gompx.Queue, which its public API does
// not offer: gompx's own packages read through it (taskpool's collector, and the Python
// facade through gompx/pyapi), choosing where each message's bytes land, peeking at a
// message too long for a buffer, and taking the messages already there under one hold.
// A Go program reads with Queue.Get or Queue.Receive instead.
//
// The protocol: BeginRead waits for a message and takes the consumer side of the queue;
// the caller then reads the message (ReadMessage, after PeekMessage if it likes), may move
// on to the next one already there (NextMessage, then ReadMessage again), and must call
// EndRead.
package qread

import "time"

// Queue is the reading side of a *gompx.Queue (see the package comment for the order of
// the calls). Kinds are gompx.MessageKind values.
type Queue interface {
	// BeginRead waits up to timeout (negative: forever) for a message and returns its
	// kind and length, holding the consumer side; gompx.ErrQueueEmpty if none came.
	BeginRead(timeout time.Duration) (kind uint8, n int, err error)
	// PeekMessage copies the start of the current message into dst, consuming nothing.
	PeekMessage(dst []byte) int
	// ReadMessage copies the current message into dst (lengths adding up to its length)
	// and consumes it; gompx.ErrMessageTorn if its producer died mid-way.
	ReadMessage(dst ...[]byte) error
	// Read is ReadMessage into one piece of memory: the per-message path, whose
	// argument, unlike a variadic one, costs no allocation through the interface.
	Read(dst []byte) error
	// NextMessage moves to the message after the one just read if it is already there.
	NextMessage() (kind uint8, n int, ok bool)
	// EndRead releases the hold; again, or without BeginRead, it does nothing.
	EndRead()
	// SetReadSpin sets how long this process's reads poll an empty queue before sleeping.
	SetReadSpin(d time.Duration)
	// AbandonPending drops this process's messages still waiting for room.
	AbandonPending()
}

// Of returns the reading side of q, a *gompx.Queue; package gompx sets it when it loads.
var Of func(q any) Queue
