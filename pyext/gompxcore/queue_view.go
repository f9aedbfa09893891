package gompxcore

import (
	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
)

// QueueView writes the queue's mapping for the C fast path (gompx._gompxsync.QueueCore)
// at out, three uint64: the mapping's address, its length, and the offset of this
// process's producer slot (all ones when it has none yet: puts then go through Go).
// The mapping stays valid until QueueClose or QueueDrop; Python disables the fast path
// before either.
func QueueView(h int64, out uintptr) (ok bool, err error) {
	return with(h, func(q *gompx.Queue) (bool, error) {
		v, err := q.View()
		if err != nil {
			return false, translateQueue(err)
		}
		putInt64s(out, int64(v.Addr), int64(v.Size), int64(v.Slot))
		return true, nil
	})
}

// QueueLayout is the layout of a queue's shared file as the Go core defines it,
// "name=value" pairs joined by ";", sorted: a test compares it with the C fast path's
// own (gompx._gompxsync.queue_layout()).
func QueueLayout() (layout string, err error) {
	defer recoverInto(&err)
	return pyapi.QueueLayout(), nil
}
