package gompx_test

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx"
)

// A Go program starts a child and exchanges framed messages with it. The child here is
// cat, which echoes the frames byte for byte; a Python child would wrap the same
// descriptors in multiprocessing.connection.Connection.
func ExampleStart_framedMessages() {
	var in, out [2]int // [read end, write end]; close-on-exec, Start hands the child copies
	unix.Pipe2(in[:], unix.O_CLOEXEC)
	unix.Pipe2(out[:], unix.O_CLOEXEC)
	p, err := gompx.Start(gompx.Cmd{
		Path: "/bin/cat", Stdin: in[0], Stdout: out[1], KillWithParent: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	unix.Close(in[0]) // the child has its copies
	unix.Close(out[1])

	send, _ := gompx.NewConn(in[1], false, true)
	recv, _ := gompx.NewConn(out[0], true, false)
	for _, msg := range []string{"hello", "from Go"} {
		send.SendBytes([]byte(msg))
		reply, _ := recv.RecvBytes(0)
		fmt.Printf("%s\n", reply)
	}
	send.Close() // cat sees end of input and exits
	code, _ := p.Wait(-1)
	fmt.Println("child exit code", code)
	recv.Close()
	p.Close()
	// Output:
	// hello
	// from Go
	// child exit code 0
}
