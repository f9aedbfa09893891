package pyapi

import (
	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/qread"
)

// Reader is the in-place reading side of q (package qread's protocol: BeginRead,
// PeekMessage, ReadMessage, NextMessage, EndRead), with which the facade lets Python
// choose where each message's bytes land; and SetReadSpin, AbandonPending. Kinds are
// gompx.MessageKind values.
func Reader(q *gompx.Queue) qread.Queue { return qread.Of(q) }

// QueueReader is what Reader returns, for the facade to name.
type QueueReader = qread.Queue
