package mpq

import (
	"sync/atomic"
	"unsafe"
)

// This file is what an embedder's own fast path needs to touch the ring without calling
// Go: gompx's C extension (pyext/csrc/gompxqueue.c) puts a small message into a ring
// whose locks are free, and takes a message that is there, by the same rules as
// produce.go and consume.go, and calls Go for everything else. The layout is defined
// here, once; Layout hands it out so that a test can compare it with the C side's.

// Layout names every offset, size and constant of the shared file that a fast path
// outside Go relies on, with its value. Names are the header's field names (offsets
// from the file's start), "slot.<field>" offsets within a slot, and the constants of
// header.go and doc.go.
func Layout() map[string]uint64 {
	var h header
	var s slot
	return map[string]uint64{
		"Magic":        uint64(unsafe.Offsetof(h.Magic)),
		"Capacity":     uint64(unsafe.Offsetof(h.Capacity)),
		"MaxSize":      uint64(unsafe.Offsetof(h.MaxSize)),
		"SoftLimit":    uint64(unsafe.Offsetof(h.SoftLimit)),
		"ProducerLock": uint64(unsafe.Offsetof(h.ProducerLock)),
		"ConsumerLock": uint64(unsafe.Offsetof(h.ConsumerLock)),
		"Tail":         uint64(unsafe.Offsetof(h.Tail)),
		"Admitted":     uint64(unsafe.Offsetof(h.Admitted)),
		"DataSeq":      uint64(unsafe.Offsetof(h.DataSeq)),
		"DataWaiters":  uint64(unsafe.Offsetof(h.DataWaiters)),
		"PJournal":     uint64(unsafe.Offsetof(h.PJournal)),
		"Head":         uint64(unsafe.Offsetof(h.Head)),
		"Consumed":     uint64(unsafe.Offsetof(h.Consumed)),
		"SpaceSeq":     uint64(unsafe.Offsetof(h.SpaceSeq)),
		"SpaceWaiters": uint64(unsafe.Offsetof(h.SpaceWaiters)),
		"CJournal":     uint64(unsafe.Offsetof(h.CJournal)),
		"TasksDone":    uint64(unsafe.Offsetof(h.TasksDone)),
		"DoneSeq":      uint64(unsafe.Offsetof(h.DoneSeq)),
		"DoneWaiters":  uint64(unsafe.Offsetof(h.DoneWaiters)),
		"AJournal":     uint64(unsafe.Offsetof(h.AJournal)),
		"Slots":        uint64(unsafe.Offsetof(h.Slots)),
		"header.size":  uint64(unsafe.Sizeof(h)),

		"journal.Valid":     uint64(unsafe.Offsetof(h.CJournal.Valid)),
		"journal.Position":  uint64(unsafe.Offsetof(h.CJournal.Position)),
		"journal.Messages":  uint64(unsafe.Offsetof(h.CJournal.Messages)),
		"pjournal.State":    uint64(unsafe.Offsetof(h.PJournal.State)),
		"pjournal.Tail":     uint64(unsafe.Offsetof(h.PJournal.Tail)),
		"pjournal.Count":    uint64(unsafe.Offsetof(h.PJournal.Count)),
		"slot.Pid":          uint64(unsafe.Offsetof(s.Pid)),
		"slot.Backlog":      uint64(unsafe.Offsetof(s.Backlog)),
		"ajournal.Lock":     uint64(unsafe.Offsetof(h.AJournal.Lock)),
		"ajournal.Slot":     uint64(unsafe.Offsetof(h.AJournal.Slot)),
		"ajournal.Admitted": uint64(unsafe.Offsetof(h.AJournal.Admitted)),
		"ajournal.Claimed":  uint64(unsafe.Offsetof(h.AJournal.Claimed)),
		"slot.Claimed":      uint64(unsafe.Offsetof(s.Claimed)),
		"slot.Released":     uint64(unsafe.Offsetof(s.Released)),
		"slot.size":         uint64(unsafe.Sizeof(s)),

		"magic":        magic,
		"dataOffset":   dataOffset,
		"pageSize":     pageSize,
		"recordHeader": recordHeader,
		"flagFirst":    flagFirst,
		"flagLast":     flagLast,
		"flagSkip":     flagSkip,
		"lockWaiters":  lockWaiters,
		"ajValid":      ajValid,
	}
}

// Mapping is the address and length of this process's mapping of the shared file. It
// stays valid until Close; the caller must stop using it before calling Close.
func (r *Ring) Mapping() (addr uintptr, size int) {
	return uintptr(unsafe.Pointer(unsafe.SliceData(r.mem))), len(r.mem)
}

// ProducerSlot is the offset, in the shared file, of this process's producer slot;
// false when it has none: before its first put, or when every slot was taken by live
// processes (its producers then go untracked, see admit.go). A fast path outside Go
// sets the slot's Claimed and Admitted under the admission lock, through its journal,
// as admit does, and adds to Released once it has published, as commit does.
func (r *Ring) ProducerSlot() (offset int, ok bool) {
	s := r.slot.Load()
	if s == nil {
		return 0, false
	}
	return int(uintptr(unsafe.Pointer(s)) - uintptr(unsafe.Pointer(r.h))), true
}

// SetBacklog records in this process's slot whether the layer above holds messages of
// this process that were admitted but wait for room (gompx.Queue's pending messages): a
// fast path outside Go must not put while the slot's Backlog is non-zero, or it would
// overtake them. The slot counts the rings of this process that have a backlog (two
// handles of one queue share the process's slot). A process without a slot has no fast
// path, and nothing to record. Calls for one ring must not overlap.
func (r *Ring) SetBacklog(on bool) {
	if r.backlog == on {
		return
	}
	s := r.ownSlot()
	if s == nil {
		return
	}
	r.backlog = on
	if on {
		atomic.AddUint32(&s.Backlog, 1)
	} else {
		atomic.AddUint32(&s.Backlog, ^uint32(0))
	}
}
