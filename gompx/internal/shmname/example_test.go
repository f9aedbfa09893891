package shmname_test

import (
	"errors"
	"fmt"

	"github.com/gompx/gompx/gompx/internal/shm"
	"github.com/gompx/gompx/gompx/internal/shmname"
	"golang.org/x/sys/unix"
)

// The creator binds the name; another holder (here in the same process, usually in
// another one) opens it; whoever unlinks removes the name for good, and the memory goes
// with the last Close.
func ExampleCreate() {
	creator, err := shmname.Create("example-segment", 100)
	if err != nil {
		panic(err)
	}
	data, _ := shm.MapRange(creator.Fd(), creator.DataOffset(), creator.Size())
	copy(data, "hello")
	shm.Unmap(data)

	other, err := shmname.Open("example-segment")
	if err != nil {
		panic(err)
	}
	creator.Close() // the name stays: other holds the segment and takes over serving it
	view, _ := shm.MapRange(other.Fd(), other.DataOffset(), other.Size())
	fmt.Println(string(view[:5]), other.Size())

	other.Unlink() // the name is gone; view stays valid until unmapped
	_, err = shmname.Open("example-segment")
	fmt.Println(errors.Is(err, unix.ENOENT))
	shm.Unmap(view)
	other.Close()
	// Output:
	// hello 100
	// true
}
