//go:build linux

package gompx_test

import (
	"fmt"
	"time"

	"github.com/gompx/gompx/gompx"
)

// Start a child, wait for it without a time limit, then release it. The
// exit code is the child's status, or -signum if a signal killed it.
func ExampleStart() {
	p, err := gompx.Start(gompx.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 3"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	code, err := p.Wait(-1)
	fmt.Println("exit code", code, err)
	fmt.Println("state", p.State())
	if err := p.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// exit code 3 <nil>
	// state exited
}

// Stop asks with SIGTERM, waits out the grace period, then uses SIGKILL.
func ExampleProcess_Stop() {
	p, err := gompx.Start(gompx.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "60"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	code, err := p.Stop(time.Second)
	fmt.Println(code, err)
	// Output: -15 <nil>
}
