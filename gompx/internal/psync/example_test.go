package psync_test

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/gompx/gompx/gompx/internal/psync"
)

// Two views of one block, as two processes mapping the same memory file would hold:
// the creator initializes the words with NewMutex, everyone else opens them.
func ExampleMutex() {
	words := make([]uint64, psync.BlockSize/8) // in real use: a block of a shared arena
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), psync.BlockSize)

	creator, _ := psync.NewMutex(mem)
	other, _ := psync.OpenMutex(mem)

	fmt.Println(creator.TryLock())
	err := other.Lock(psync.After(10 * time.Millisecond))
	fmt.Println(errors.Is(err, psync.ErrTimeout))
	fmt.Println(other.Unlock()) // any holder of a view may release it
	fmt.Println(errors.Is(other.Unlock(), psync.ErrNotLocked))
	if _, err := psync.OpenSemaphore(mem); err != nil {
		fmt.Println(err)
	}
	// Output:
	// true
	// true
	// <nil>
	// true
	// gompx: open semaphore: block holds a mutex
}
