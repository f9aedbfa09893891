package gompxcore

import (
	"encoding/binary"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
)

// QueueView writes the queue's mapping for the C fast path (gompx._gompxsync.QueueCore)
// at out, three uint64: the mapping's address, its length, and the offset of this
// process's producer slot (all ones when it has none yet: puts then go through Go).
// The mapping stays valid until QueueClose or QueueDrop; Python disables the fast path
// before either.
func QueueView(h int64, out uintptr) (ok bool, err error) {
	defer recoverInto(&err)
	q, err := get[*gompx.Queue](h)
	if err != nil {
		return false, err
	}
	v, err := q.View()
	if err != nil {
		return false, translateQueue(err)
	}
	dst := pyMemory(out, 24)
	binary.LittleEndian.PutUint64(dst[0:], uint64(v.Addr))
	binary.LittleEndian.PutUint64(dst[8:], uint64(v.Size))
	binary.LittleEndian.PutUint64(dst[16:], uint64(int64(v.Slot)))
	return true, nil
}

// QueueLayout is the layout of a queue's shared file as the Go core defines it,
// "name=value" pairs joined by ";", sorted: a test compares it with the C fast path's
// own (gompx._gompxsync.queue_layout()).
func QueueLayout() (layout string, err error) {
	defer recoverInto(&err)
	return pyapi.QueueLayout(), nil
}
