package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
	"github.com/gompx/gompx/gompx/cluster/natsnode"
)

// A caller submits two chunks; a worker (here in the same program, normally `gompx
// worker` on another machine) runs them; results come back in chunk order.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts, stop := startExampleCluster(ctx, func(_ context.Context, fn string, body []byte) (cluster.Status, []byte) {
		return cluster.StatusOK, bytes.ToUpper(body)
	})
	defer stop()

	conn, _ := cluster.Connect(ctx, opts)
	defer conn.Close()
	caller, _ := cluster.NewCaller(ctx, conn)
	job, _ := caller.NewJob()
	caller.Submit(ctx, job, 0, "example:upper", []byte("hello"))
	caller.Submit(ctx, job, 1, "example:upper", []byte("cluster"))
	caller.SetLength(job, 2)
	for range 2 {
		r, _ := caller.Take(ctx, job, true)
		fmt.Println(r.Chunk, r.Status, string(r.Body))
	}
	caller.Close(ctx)
	fmt.Println(stop())
	// Output:
	// 0 ok HELLO
	// 1 ok CLUSTER
	// <nil>
}

// A Go program serves a Go function over the cluster (GoHandler) and calls it with
// Caller.Map, in the chunk format of Python's pools: a Python
// gompx.Pool(cluster=...).map(gofuncs.square, ...) reaches the same worker, and the same
// Map reaches Python functions on `gompx worker`s ("mymodule:work").
func ExampleCaller_Map() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts, stop := startExampleCluster(ctx, cluster.GoHandler(map[string]cluster.Func{
		"gofuncs:square": func(args []any) (any, error) { return args[0].(int64) * args[0].(int64), nil },
	}))
	defer stop()

	conn, _ := cluster.Connect(ctx, opts)
	defer conn.Close()
	caller, _ := cluster.NewCaller(ctx, conn)
	out, err := caller.Map(ctx, "gofuncs:square", []any{int64(1), int64(2), int64(3)}, 2)
	fmt.Println(out, err)
	caller.Close(ctx)
	fmt.Println(stop())
	// Output:
	// [1 4 9] <nil>
	// <nil>
}

// startExampleCluster starts a one-node cluster on 127.0.0.1 and a worker with two slots
// running h on it, and returns the options to connect with and a stop that ends the
// worker (returning its Serve's error) and the server.
func startExampleCluster(ctx context.Context, h cluster.Handler) (cluster.Options, func() error) {
	dir, _ := os.MkdirTemp("", "gompx-example")
	node, err := natsnode.Start(ctx, natsnode.Options{Host: "127.0.0.1", StoreDir: dir})
	if err != nil {
		panic(err)
	}
	opts := cluster.Options{URL: node.ClientURL(), Authkey: []byte("shared secret")}
	wconn, _ := cluster.Connect(ctx, opts)
	wctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- cluster.Serve(wctx, wconn, cluster.WorkerOptions{Slots: 2, Name: "w"}, h) }()
	var once sync.Once
	var serveErr error
	return opts, func() error {
		once.Do(func() {
			cancel()
			serveErr = <-served
			wconn.Close()
			node.Shutdown()
			os.RemoveAll(dir)
		})
		return serveErr
	}
}
