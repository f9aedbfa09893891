package gompxcore

import (
	"strings"
	"testing"
)

func wantPyError(t *testing.T, what string, err error, prefix string) {
	t.Helper()
	if err == nil || !strings.HasPrefix(describe(err), prefix) {
		t.Fatalf("%s: %v, want an error starting %q", what, err, prefix)
	}
}

// TestSharedHeapFacade: a heap of its own lists its blocks, refuses bad sizes, other
// heaps' blocks and double frees with ValueError, and lists nothing once every block is
// freed.
func TestSharedHeapFacade(t *testing.T) {
	heap, err := SharedHeapNew()
	if err != nil {
		t.Fatal(err)
	}
	defer SharedHeapClose(heap)
	if desc, err := SharedHeapBlocks(heap); err != nil || desc != "" {
		t.Fatalf("a new heap: %q, %v", desc, err)
	}
	if keep, err := SharedHeapKeep(heap); keep != 4<<20 || err != nil {
		t.Fatalf("keep of a new heap: %d, %v", keep, err)
	}
	SharedHeapSetKeep(heap, 0) // every emptied arena given back, as checked below
	_, err = SharedHeapAlloc(heap, -1)
	wantPyError(t, "size -1", err, "gompx:ValueError:0:Size -1 out of range")
	a, err := SharedHeapAlloc(heap, 100)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SharedHeapAlloc(heap, 10)
	SharedHeapFree(heap, a)
	desc, err := SharedHeapBlocks(heap)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(desc, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "arena ") || !strings.HasSuffix(lines[0], " 4096 192") ||
		lines[1] != "0 128 free" || lines[2] != "128 192 used" {
		t.Fatalf("blocks of the heap:\n%s", desc)
	}
	_, err = SharedHeapFree(heap, a)
	wantPyError(t, "double free", err, "gompx:ValueError:0:")

	foreign, _ := SharedAlloc(10)
	defer SharedClose(foreign)
	_, err = SharedHeapFree(heap, foreign)
	wantPyError(t, "free of the process heap's block", err, "gompx:ValueError:0:")
	_, err = SharedHeapOwns(heap, foreign)
	wantPyError(t, "owns of the process heap's block", err, "gompx:ValueError:0:")
	if ok, err := SharedHeapOwns(heap, b); !ok || err != nil {
		t.Fatalf("owns its block: %v, %v", ok, err)
	}
	if _, err := SharedHeapFree(heap, b); err != nil {
		t.Fatal(err)
	}
	if desc, err := SharedHeapBlocks(heap); err != nil || desc != "" {
		t.Fatalf("after every block was freed: %q, %v", desc, err)
	}

	SharedHeapClose(heap)
	_, err = SharedHeapAlloc(heap, 10)
	wantPyError(t, "alloc on a closed heap handle", err, "gompx:OSError:0:handle is closed")
	if ok, err := SharedHeapClose(heap); ok || err != nil {
		t.Fatalf("second close: %v, %v", ok, err)
	}
	proc, _ := SharedHeapProcess()
	if ok, err := SharedHeapClose(proc); !ok || err != nil {
		t.Fatalf("close of a process heap handle: %v, %v", ok, err)
	}
	if h, err := SharedAlloc(10); err != nil {
		t.Fatalf("the process heap after its handle was closed: %v", err)
	} else {
		SharedClose(h)
	}
}
