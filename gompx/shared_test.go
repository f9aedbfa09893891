package gompx

import (
	"errors"
	"testing"
)

func heapBlocks(t *testing.T, h *SharedHeap) (free, allocated int) {
	t.Helper()
	arenas, err := h.Arenas()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arenas {
		next := a.Start
		for _, b := range a.Blocks {
			if b.Offset != next {
				t.Fatalf("block at %d, want %d", b.Offset, next)
			}
			next += b.Size
			if b.Free {
				free++
			} else {
				allocated++
			}
		}
		if next != a.End {
			t.Fatalf("blocks end at %d, the arena at %d", next, a.End)
		}
	}
	return free, allocated
}

// TestSharedHeapSeparate: a heap of its own allocates from its own arenas, lists only its
// blocks, refuses others', gives its arena back when its last block goes, and closes.
func TestSharedHeapSeparate(t *testing.T) {
	h := NewSharedHeap()
	h.SetKeep(0)
	mine, err := h.Alloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	other, err := AllocShared(1000)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if mine.Ref().Fd == other.Ref().Fd {
		t.Fatal("a new heap allocated from the process heap's arena")
	}
	if !h.Owns(mine) || h.Owns(other) || ProcessHeap().Owns(mine) || !ProcessHeap().Owns(other) {
		t.Fatal("Owns does not tell the heaps' blocks apart")
	}
	if err := h.Free(other); !errors.Is(err, ErrForeignBlock) {
		t.Fatalf("Free of another heap's block: %v, want ErrForeignBlock", err)
	}
	if other.Bytes() == nil {
		t.Fatal("a refused Free closed the block")
	}
	small, _ := h.Alloc(10)
	if free, allocated := heapBlocks(t, h); free != 0 || allocated != 2 {
		t.Fatalf("%d free and %d allocated blocks, want 0 and 2", free, allocated)
	}
	if err := h.Free(mine); err != nil {
		t.Fatal(err)
	}
	if free, allocated := heapBlocks(t, h); free != 1 || allocated != 1 {
		t.Fatalf("%d free and %d allocated blocks, want 1 and 1", free, allocated)
	}
	h.Free(small)
	arenas, _ := h.Arenas()
	if len(arenas) != 1 || len(arenas[0].Blocks) != 0 || arenas[0].End != arenas[0].Start {
		t.Fatalf("after the last free: %+v, want one empty arena", arenas)
	}

	// Close keeps an arena that still has a live block, for it.
	kept, _ := h.Alloc(100)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Alloc(10); !errors.Is(err, ErrHeapClosed) {
		t.Fatalf("Alloc after Close: %v, want ErrHeapClosed", err)
	}
	copy(kept.Bytes(), "still mapped")
	if err := kept.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if arenas, _ := h.Arenas(); len(arenas) != 0 {
		t.Fatalf("the closed heap still has %d arenas", len(arenas))
	}
	if err := ProcessHeap().Close(); err == nil {
		t.Fatal("the process heap closed")
	}
}

// TestSharedHeapKeep: by default an emptied arena under DefaultHeapKeep keeps its free
// blocks; a later SetKeep(0) resets it at the next emptying; Close closes an arena that
// holds only free blocks.
func TestSharedHeapKeep(t *testing.T) {
	h := NewSharedHeap()
	if h.Keep() != DefaultHeapKeep || ProcessHeap().Keep() != DefaultHeapKeep {
		t.Fatalf("keep %d, want %d", h.Keep(), DefaultHeapKeep)
	}
	b, _ := h.Alloc(100)
	b.Close()
	if free, allocated := heapBlocks(t, h); free != 1 || allocated != 0 {
		t.Fatalf("%d free and %d allocated blocks, want the freed block kept", free, allocated)
	}
	h.SetKeep(0)
	b, _ = h.Alloc(100)
	b.Close()
	if free, allocated := heapBlocks(t, h); free != 0 || allocated != 0 {
		t.Fatalf("%d free and %d allocated blocks after SetKeep(0), want a reset", free, allocated)
	}
	h.SetKeep(1 << 20)
	b, _ = h.Alloc(100)
	b.Close()
	h.Close()
	if arenas, _ := h.Arenas(); len(arenas) != 0 {
		t.Fatalf("Close kept %d arenas of free blocks", len(arenas))
	}
}
