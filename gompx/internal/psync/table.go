package psync

import "sync/atomic"

// procTable counts, per process, how many of its threads are inside a primitive (waiting
// on a condition, or arrived at a barrier), so that the entries of a process that died
// there can be dropped. Entries are {pid uint32, count uint32, start uint64}; a process
// claims a free entry (count 0) the first time. Claims and drops happen under the
// primitive's lock; a claim may be released without it (an atomic decrement).
// Beyond tableSlots processes at once, further ones go untracked (noSlot).
type procTable []byte

const (
	tableEntry = 16
	tableSlots = 12
	tableSize  = tableEntry * tableSlots
	noSlot     = 0xff
)

func (t procTable) entry(slot int) (pid, count *uint32, start *uint64) {
	e := t[slot*tableEntry:]
	return word(e, 0), word(e, 4), word64(e, 8)
}

// claim counts one more of this process's threads in; it returns the slot, or noSlot
// when the table is full (or absent).
func (t procTable) claim() int {
	if t == nil {
		return noSlot
	}
	me, free := Self(), noSlot
	for i := 0; i < tableSlots; i++ {
		pid, count, start := t.entry(i)
		if atomic.LoadUint32(pid) == me.Pid && atomic.LoadUint64(start) == me.Start {
			atomic.AddUint32(count, 1)
			return i
		}
		if free == noSlot && atomic.LoadUint32(count) == 0 {
			free = i
		}
	}
	if free != noSlot {
		pid, count, start := t.entry(free)
		atomic.StoreUint32(count, 1)
		atomic.StoreUint64(start, me.Start)
		atomic.StoreUint32(pid, me.Pid)
	}
	return free
}

// unclaim counts one thread of the process holding slot out.
func (t procTable) unclaim(slot int) {
	if slot != noSlot && t != nil {
		_, count, _ := t.entry(slot)
		atomic.AddUint32(count, ^uint32(0))
	}
}

// mine is this process's slot, noSlot if it has none.
func (t procTable) mine() int {
	if t == nil {
		return noSlot
	}
	me := Self()
	for i := 0; i < tableSlots; i++ {
		pid, count, start := t.entry(i)
		if atomic.LoadUint32(pid) == me.Pid && atomic.LoadUint64(start) == me.Start &&
			atomic.LoadUint32(count) > 0 {
			return i
		}
	}
	return noSlot
}

// dropDead clears the entries of dead processes, calling drop once per thread each had
// inside.
func (t procTable) dropDead(drop func()) {
	if t == nil {
		return
	}
	me := Self().Pid
	for i := 0; i < tableSlots; i++ {
		pid, count, start := t.entry(i)
		p, n := atomic.LoadUint32(pid), atomic.LoadUint32(count)
		if n == 0 || p == me || !gone(p, atomic.LoadUint64(start)) {
			continue
		}
		atomic.StoreUint32(count, 0)
		for ; n > 0; n-- {
			drop()
		}
	}
}
