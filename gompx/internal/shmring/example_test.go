package shmring_test

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/shmring"
)

// The producer creates the ring and passes its fd to the consumer (another process in
// real use; a dup here), which maps it with Open.
func Example() {
	prod, err := shmring.Create(1 << 16)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer prod.Close()
	fd, _ := unix.Dup(prod.Fd())
	cons, err := shmring.Open(fd) // cons now owns fd
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cons.Close()

	done := make(chan error)
	go func() { done <- prod.Write([]byte("through shared memory"), nil) }()
	buf := make([]byte, 21)
	if err := cons.Read(buf, nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(buf), <-done)
	// Output: through shared memory <nil>
}
