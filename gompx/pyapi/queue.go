package pyapi

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/qread"
	"github.com/gompx/gompx/pickle"
)

// Reader is the in-place reading side of q (package qread's protocol: BeginRead,
// PeekMessage, ReadMessage, NextMessage, EndRead), with which the facade lets Python
// choose where each message's bytes land; and SetReadSpin, AbandonPending. Kinds are
// gompx.MessageKind values.
func Reader(q *gompx.Queue) qread.Queue { return qread.Of(q) }

// QueueReader is what Reader returns, for the facade to name.
type QueueReader = qread.Queue

// Batch is what ReceiveMany got.
type Batch struct {
	// Count is how many messages were read, back to back from the start of buf; the
	// table holds length<<8 | kind of each, one little-endian uint64 per message.
	Count int
	// Joined: the messages were all pickles, now joined into the pickle of the list of
	// them at the start of buf; the table's first uint64 holds its length.
	Joined bool
	// Held: the first message is longer than buf. Its start was copied to buf, and the
	// read stays open for the caller (Reader: ReadMessage then EndRead, or EndRead to
	// leave it in the queue). Kind and Len describe it.
	Held bool
	Kind gompx.MessageKind
	Len  int
	// Torn: the first message was abandoned by a producer that died; get again.
	Torn bool
}

// ReceiveMany waits up to timeout (negative: forever) for a message, then takes up to
// len(table)/8 messages already in the queue, as long as they fit in buf, and joins
// them into one pickle when they are all pickles (pickle.ConcatInPlace), so that Python
// loads a batch in one call. A first message longer than buf is held (Batch.Held). It
// returns gompx.ErrQueueEmpty (or the wait's interruption) when nothing came in time.
func ReceiveMany(q *gompx.Queue, timeout time.Duration, buf, table []byte) (Batch, error) {
	r := Reader(q)
	k, n, err := r.BeginRead(timeout)
	if err != nil {
		return Batch{}, err
	}
	kind := gompx.MessageKind(k)
	if n > len(buf) {
		r.PeekMessage(buf)
		return Batch{Held: true, Kind: kind, Len: n}, nil
	}
	defer r.EndRead()
	var b Batch
	used, pickles, max := 0, true, len(table)/8
	for {
		if err := r.Read(buf[used : used+n]); err != nil {
			if errors.Is(err, gompx.ErrMessageTorn) {
				b.Torn = b.Count == 0
				break
			}
			return Batch{}, err
		}
		binary.LittleEndian.PutUint64(table[8*b.Count:], uint64(n)<<8|uint64(kind))
		pickles = pickles && kind == gompx.KindPickle
		used += n
		b.Count++
		var ok bool
		if b.Count == max {
			break
		}
		if k, n, ok = r.NextMessage(); !ok || n > len(buf)-used {
			break
		}
		kind = gompx.MessageKind(k)
	}
	if b.Count > 1 && pickles {
		size := func(i int) int { return int(binary.LittleEndian.Uint64(table[8*i:]) >> 8) }
		if joined, ok := pickle.ConcatInPlace(buf, b.Count, size); ok {
			binary.LittleEndian.PutUint64(table, uint64(joined))
			b.Joined = true
		}
	}
	return b, nil
}
