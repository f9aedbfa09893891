// Command goworker is the Go worker program of tests/test_goworkers.py: each
// function exercises one outcome a Python caller must see.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gompx/gompx/gompx/goserve"
)

func main() {
	goserve.Register("add", func(args []any) (any, error) {
		var sum int64
		for _, a := range args {
			n, ok := a.(int64)
			if !ok {
				return nil, fmt.Errorf("add: %T is not an int", a)
			}
			sum += n
		}
		return sum, nil
	})
	goserve.Register("echo", func(args []any) (any, error) { return args, nil })
	goserve.Register("fail", func(args []any) (any, error) { return nil, errors.New("failed on purpose") })
	goserve.Register("fail_on", func(args []any) (any, error) {
		if args[0] == args[1] {
			return nil, fmt.Errorf("item %v is the bad one", args[0])
		}
		return args[0], nil
	})
	goserve.Register("panic", func(args []any) (any, error) { panic("deliberate panic") })
	goserve.Register("exit", func(args []any) (any, error) {
		os.Exit(int(args[0].(int64)))
		return nil, nil
	})
	goserve.Register("sleep", func(args []any) (any, error) {
		time.Sleep(time.Duration(args[0].(float64) * float64(time.Second)))
		return int64(os.Getpid()), nil
	})
	goserve.Register("pid", func(args []any) (any, error) { return int64(os.Getpid()), nil })
	goserve.Register("unencodable", func(args []any) (any, error) { return make(chan int), nil })
	goserve.Register("length", func(args []any) (any, error) {
		b, ok := args[0].([]byte)
		if !ok {
			return nil, fmt.Errorf("length wants bytes, got %T", args[0])
		}
		return len(b), nil
	})
	if err := goserve.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
