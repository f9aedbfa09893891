package mpq

import (
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestLayoutNamesTheHeader(t *testing.T) {
	l := Layout()
	var h header
	tests := []struct {
		name string
		want uintptr
	}{
		{"ProducerLock", unsafe.Offsetof(h.ProducerLock)},
		{"Tail", unsafe.Offsetof(h.Tail)},
		{"Head", unsafe.Offsetof(h.Head)},
		{"journal.Valid", unsafe.Offsetof(h.CJournal.Valid)},
		{"PJournal", unsafe.Offsetof(h.PJournal)},
		{"pjournal.Count", unsafe.Offsetof(h.PJournal.Count)},
		{"slot.Backlog", 4},
		{"slot.Claimed", 8},
		{"slot.Released", 16},
		{"slot.size", 24},
		{"AJournal", unsafe.Offsetof(h.AJournal)},
		{"ajournal.Claimed", unsafe.Offsetof(h.AJournal.Claimed)},
		{"header.size", unsafe.Sizeof(h)},
		{"dataOffset", dataOffset},
	}
	for _, tt := range tests {
		if got, ok := l[tt.name]; !ok || got != uint64(tt.want) {
			t.Errorf("Layout()[%q] = %d (present %v), want %d", tt.name, got, ok, tt.want)
		}
	}
}

func TestViewSlotAndBacklog(t *testing.T) {
	r := newRing(t, Options{Capacity: MinCapacity})
	addr, size := r.Mapping()
	if addr == 0 || size != dataOffset+MinCapacity {
		t.Fatalf("Mapping() = %#x, %d", addr, size)
	}
	if _, ok := r.ProducerSlot(); ok {
		t.Fatal("a slot before any put")
	}
	r.SetBacklog(true) // claims the slot: a backlog needs one to be seen
	off, ok := r.ProducerSlot()
	if !ok {
		t.Fatal("no slot after SetBacklog")
	}
	s := (*slot)(unsafe.Add(unsafe.Pointer(r.h), off))
	if s.Pid != r.pid {
		t.Fatalf("slot at %d holds pid %d, want %d", off, s.Pid, r.pid)
	}
	// A second ring of the same queue in this process shares the slot: the word counts.
	r2 := openRing(t, r)
	r2.SetBacklog(true)
	r.SetBacklog(true) // no change: counted once per ring
	if got := atomic.LoadUint32(&s.Backlog); got != 2 {
		t.Fatalf("Backlog = %d with two rings backlogged, want 2", got)
	}
	r.SetBacklog(false)
	if got := atomic.LoadUint32(&s.Backlog); got != 1 {
		t.Fatalf("Backlog = %d after one ring drained, want 1", got)
	}
	r2.SetBacklog(false)
	if got := atomic.LoadUint32(&s.Backlog); got != 0 {
		t.Fatalf("Backlog = %d after both drained, want 0", got)
	}
}

// openRing maps r's queue a second time, as another handle of this process would.
func openRing(t *testing.T, r *Ring) *Ring {
	t.Helper()
	fd, err := unix.Dup(r.Fd())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Close() })
	return r2
}
