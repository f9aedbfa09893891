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
	// release block at 4112: it was already free
}
