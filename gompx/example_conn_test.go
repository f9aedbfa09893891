//go:build linux

package gompx_test

import (
	"errors"
	"fmt"

	"github.com/gompx/gompx/gompx"
)

// Pipe gives two connected ends, as multiprocessing.Pipe does. Large payloads travel
// through shared memory, transparently. Sends run in goroutines here only because both
// ends live in one process; a sender must finish before its end is closed.
func ExamplePipe() {
	a, b, err := gompx.Pipe(true)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	defer b.Close()
	sent := make(chan error, 1)
	send := func(c *gompx.Conn, p []byte) { go func() { sent <- c.SendBytes(p) }() }

	send(a, []byte("hello"))
	msg, _ := b.RecvBytes(0)
	fmt.Println(string(msg), <-sent)

	send(b, make([]byte, 1<<20)) // 1 MiB: through the shared ring
	_, err = a.RecvBytes(1024)
	fmt.Println(errors.Is(err, gompx.ErrMessageTooLong), <-sent)

	send(b, []byte("still usable"))
	n, _ := a.RecvHeader(-1) // two-phase: the caller owns the destination
	dst := make([]byte, n)
	a.RecvPayload(dst)
	fmt.Println(n, string(dst), <-sent)
	// Output:
	// hello <nil>
	// true <nil>
	// 12 still usable <nil>
}
