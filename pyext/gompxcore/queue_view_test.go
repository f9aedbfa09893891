package gompxcore

import (
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"
)

func TestQueueViewSlotAppearsWithTheFirstPut(t *testing.T) {
	h, err := QueueNew(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer QueueDrop(h)
	out := make([]byte, 24)
	view := func() (addr, size, slot uint64) {
		t.Helper()
		if _, err := QueueView(h, uintptr(unsafe.Pointer(&out[0]))); err != nil {
			t.Fatal(err)
		}
		return binary.LittleEndian.Uint64(out), binary.LittleEndian.Uint64(out[8:]), binary.LittleEndian.Uint64(out[16:])
	}
	addr, size, slot := view()
	if addr == 0 || size <= 4096 || slot != ^uint64(0) {
		t.Fatalf("before a put: addr %#x size %d slot %#x, want a mapping and no slot", addr, size, slot)
	}
	msg := []byte("x")
	if r, err := QueuePut(h, uintptr(unsafe.Pointer(&msg[0])), 1, 1, -1); r != 0 || err != nil {
		t.Fatalf("QueuePut = %d, %v", r, err)
	}
	_, _, slot = view()
	layout, err := QueueLayout()
	if err != nil {
		t.Fatal(err)
	}
	if slot == ^uint64(0) || slot < 448 || !strings.Contains(layout, "Slots=448;") {
		t.Fatalf("after a put: slot at %d; layout %q", slot, layout)
	}
	QueueClose(h)
	if _, err := QueueView(h, uintptr(unsafe.Pointer(&out[0]))); err == nil {
		t.Fatal("QueueView of a closed queue succeeded")
	}
}
