package goserve_test

import (
	"context"
	"fmt"
	"os"

	"github.com/gompx/gompx/gompx/goserve"
)

// A Go program calls the functions of a worker program. Here the worker
// program is this test binary, whose TestMain registers "add" and "fail" and
// serves when a pool starts it; in Python, gompx.goworkers.GoPool does the
// same from the other side.
func ExampleNewPool() {
	pool, err := goserve.NewPool(goserve.Options{Path: os.Args[0], Workers: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	ctx := context.Background()

	sum, err := pool.Call(ctx, "add", 1, 2, 3)
	fmt.Println(sum, err)

	_, err = pool.Call(ctx, "fail")
	fmt.Println(err)
	// Output:
	// 6 <nil>
	// gompx: go function fail: it failed
}
