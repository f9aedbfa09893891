package gompx_test

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/gompx/gompx/gompx"
)

// Shared memory by name: one process creates a segment, any process of the same user
// opens it by that name while somebody holds it (Python: gompx.shared_memory.
// SharedMemory("jobs-table")), and one of them unlinks it when nobody new should find it.
// The memory itself goes with the last Close (or the last holder's death): nothing is
// left behind, whoever forgets to clean up.
func ExampleCreateSharedMemory() {
	// The creator.
	table, err := gompx.CreateSharedMemory("jobs-table", 4096)
	if err != nil {
		panic(err)
	}
	copy(table.Bytes(), "42 jobs")

	// Another process (here the same one, for the example) opens it by name.
	view, err := gompx.OpenSharedMemory("jobs-table")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(view.Bytes()[:7]), view.Size())

	// The creator is done: it closes. The segment lives on, view holds it.
	table.Close()
	// The last user removes the name, then lets go of the memory.
	view.Unlink()
	view.Close()

	_, err = gompx.OpenSharedMemory("jobs-table")
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output:
	// 42 jobs 4096
	// true
}
