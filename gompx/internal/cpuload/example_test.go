package cpuload_test

import (
	"fmt"

	"github.com/gompx/gompx/gompx/internal/cpuload"
)

// A waiter asks before it starts a spin window; when the machine is busy it goes
// straight to its sleep. (No output: it depends on the machine's load.)
func ExampleBusy() {
	if cpuload.Busy() {
		fmt.Println("every CPU has work: sleep at once")
	} else {
		fmt.Println("a CPU is free: poll for a few microseconds, then sleep")
	}
}
