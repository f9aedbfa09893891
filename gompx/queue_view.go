package gompx

import "github.com/gompx/gompx/gompx/internal/mpq"

// QueueView is what an embedder's fast path needs to put and get small messages
// without a call into Go: gompx's Python extension does so in C for the common
// uncontended case (a free lock, room in the ring, a message there) and calls Go for
// everything that waits or repairs. The rules it must keep are those of the ring's
// producers and consumers (claims, the journal, the backlog flag): see QueueLayout.
type QueueView struct {
	// Addr and Size are this process's mapping of the queue's shared file: valid until
	// Close, and the embedder must stop using them before it calls Close.
	Addr uintptr
	Size int
	// Slot is the offset of this process's producer slot in the file, or -1 when the
	// process has none (before its first put through Go, or more producer processes
	// than slots): then puts must go through Go. While the slot's Backlog is non-zero,
	// so must puts of this process.
	Slot int
}

// View returns the queue's mapping for a fast path. A fast path may put only after a
// put through Go (which marks the queue used, see Used, and claims the slot).
func (q *Queue) View() (QueueView, error) {
	if !q.enter() {
		return QueueView{}, ErrQueueClosed
	}
	defer q.leave()
	addr, size := q.ring.Mapping()
	v := QueueView{Addr: addr, Size: size, Slot: -1}
	if off, ok := q.ring.ProducerSlot(); ok {
		v.Slot = off
	}
	return v, nil
}

// QueueLayout names the offsets, sizes and constants of a queue's shared file that a
// fast path outside Go relies on (see QueueView): the one definition, for a test to
// compare with the embedder's own.
func QueueLayout() map[string]uint64 { return mpq.Layout() }
