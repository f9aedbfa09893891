package arena_test

import (
	"fmt"

	"github.com/gompx/gompx/gompx/internal/arena"
)

// A block handed to another process carries a reference for it: Retain before sending
// (the receiver maps the arena with Open on its copy of Fd, and calls Release when done).
// The block is reused only when the last reference is gone.
func ExampleArena() {
	a, err := arena.Create()
	if err != nil {
		panic(err)
	}
	defer a.Close()
	a.Alloc(10) // another live block: this example is not about resetting the arena
	off, _ := a.Alloc(100)
	b, _ := a.Bytes(off)
	fmt.Println(len(b), a.Refs(off))

	a.Retain(off) // for the receiving process
	freed, _ := a.Release(off)
	fmt.Println(freed, a.Refs(off))
	freed, _ = a.Release(off) // the receiver's
	fmt.Println(freed)
	_, err = a.Release(off)
	fmt.Println(err)
	// Output:
	// 112 1
	// false 1
	// true
	// gompx: release block at 4176: it was already free
}

// Blocks walks the arena: its blocks tile it from FirstBlock to the top. When the last
// live block is freed, the arena is reset and its memory goes back to the kernel.
func ExampleArena_Blocks() {
	a, err := arena.Create()
	if err != nil {
		panic(err)
	}
	defer a.Close()
	x, _ := a.Alloc(100)
	y, _ := a.Alloc(40)
	a.Release(x)
	blocks, top, _ := a.Blocks()
	for _, b := range blocks {
		fmt.Println(b.Offset, b.Size, b.Free, b.Refs)
	}
	fmt.Println("top", top)

	a.Release(y) // the last live block
	blocks, top, _ = a.Blocks()
	fmt.Println(len(blocks), "blocks, top", top)
	// Output:
	// 4096 128 true 0
	// 4224 64 false 1
	// top 4288
	// 0 blocks, top 4096
}
