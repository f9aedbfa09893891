package goserve_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/goserve"
)

// The test binary is its own worker program: started by a pool, it serves
// these functions instead of running tests.
func TestMain(m *testing.M) {
	if goserve.IsWorker() {
		registerTestFunctions()
		if err := goserve.Serve(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func registerTestFunctions() {
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
	goserve.Register("sha256", func(args []any) (any, error) {
		b, ok := args[0].([]byte)
		if !ok {
			return nil, fmt.Errorf("sha256: want bytes, got %T", args[0])
		}
		sum := sha256.Sum256(b)
		return sum[:], nil
	})
	goserve.Register("echo", func(args []any) (any, error) { return args, nil })
	goserve.Register("fail", func(args []any) (any, error) { return nil, errors.New("it failed") })
	goserve.Register("panic", func(args []any) (any, error) { panic("kaboom") })
	goserve.Register("die", func(args []any) (any, error) {
		os.Exit(int(args[0].(int64)))
		return nil, nil
	})
	goserve.Register("sleep", func(args []any) (any, error) {
		time.Sleep(time.Duration(args[0].(float64) * float64(time.Second)))
		return int64(os.Getpid()), nil
	})
	goserve.Register("pid", func(args []any) (any, error) { return int64(os.Getpid()), nil })
	goserve.Register("unencodable", func(args []any) (any, error) { return make(chan int), nil })
}
