// Command goclusterworker serves Go functions over a gompx cluster for
// tests/test_cluster.py: a Python gompx.Pool(cluster=...) calls the stubs of
// tests/gofuncs.py and these functions answer, in place of `gompx worker`.
//
//	GOMPX_AUTHKEY=<hex> goclusterworker nats://127.0.0.1:4222
//
// It prints "serving" once connected and serves until SIGTERM or SIGINT.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
)

var funcs = map[string]cluster.Func{
	"gofuncs:square": func(args []any) (any, error) {
		x, ok := args[0].(int64)
		if !ok {
			return nil, fmt.Errorf("square wants an int, got %T", args[0])
		}
		return x * x, nil
	},
	"gofuncs:add": func(args []any) (any, error) {
		var sum int64
		for _, a := range args {
			n, ok := a.(int64)
			if !ok {
				return nil, fmt.Errorf("add: %T is not an int", a)
			}
			sum += n
		}
		return sum, nil
	},
	"gofuncs:fail": func(args []any) (any, error) { return nil, errors.New("failed on purpose") },
	"gofuncs:pid":  func(args []any) (any, error) { return int64(os.Getpid()), nil },
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "goclusterworker:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return errors.New("usage: goclusterworker nats://host:port (authkey in GOMPX_AUTHKEY, hex)")
	}
	key, err := hex.DecodeString(os.Getenv("GOMPX_AUTHKEY"))
	if err != nil || len(key) == 0 {
		return errors.New("GOMPX_AUTHKEY must hold the pools' authkey, in hex")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := cluster.Connect(cctx, cluster.Options{URL: os.Args[1], Authkey: key})
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Println("serving")
	return cluster.Serve(ctx, conn, cluster.WorkerOptions{Slots: 2, Name: "go"}, cluster.GoHandler(funcs))
}
