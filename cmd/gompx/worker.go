package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
	"github.com/gompx/gompx/gompx/pyworker"
	"github.com/gompx/gompx/pickle"
)

// runTarget is the Python function that runs a chunk in a worker process: it
// unpickles the chunk, calls the function and pickles the outcome.
const runTarget = "gompx._clusterworker:run"

// runWorker serves chunks until ctx is done.
func runWorker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gompx worker", flag.ContinueOnError)
	var o cluster.Options
	processes := fs.Int("processes", 0, "worker processes (default: the number of CPUs)")
	python := fs.String("python", os.Getenv("GOMPX_PYTHON"), "the CPython to run tasks with (default: python3 on PATH)")
	keyFile := fs.String("authkey-file", "", "file holding the pools' authkey (default: GOMPX_AUTHKEY, hex)")
	name := fs.String("name", "", "this worker's name in results (default: host/pid)")
	verbose := fs.Bool("verbose", false, "log dropped and failed chunks and connection errors to stderr")
	connectionFlags(fs, &o)
	fs.DurationVar(&o.AckWait, "ack-wait", 30*time.Second, "ack wait of the workers' consumer, if this worker creates it")
	fs.IntVar(&o.Replicas, "replicas", 1, "replicas of the streams, if this worker creates them")
	if err := parseWithURL(fs, args, &o); err != nil {
		return err
	}
	key, err := readAuthkey(*keyFile)
	if err != nil {
		return err
	}
	o.Authkey = key
	if *verbose {
		o.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	}
	interp, err := findPython(*python)
	if err != nil {
		return err
	}
	conn, err := connectPatiently(ctx, o, os.Stderr)
	if err != nil {
		return err
	}
	defer conn.Close()
	pool, err := pyworker.NewPool(pyworker.Options{Python: interp, Workers: *processes})
	if err != nil {
		return fmt.Errorf("gompx worker: start %s: %w", interp, err)
	}
	defer pool.Terminate()
	wo := cluster.WorkerOptions{Slots: len(pool.Pids()), Name: *name, Logf: o.Logf}
	if *verbose {
		fmt.Fprintf(os.Stderr, "gompx worker: %d processes, serving %s\n", wo.Slots, o.URL)
	}
	return cluster.Serve(ctx, conn, wo, handler(pool))
}

// connectPatiently connects, retrying while the cluster is not ready (servers still
// starting, JetStream still electing leaders: each attempt gives up after 30 s) until
// ctx ends. A worker is started beside its servers, often before a cluster that has
// just lost a node has settled, and should wait for it as a stock nats-server client
// would; refusals (credentials, TLS, a bad URL) end it at once.
func connectPatiently(ctx context.Context, o cluster.Options, log io.Writer) (*cluster.Conn, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		conn, err := cluster.Connect(cctx, o)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return conn, err
		}
		fmt.Fprintf(log, "gompx worker: %v; still trying\n", err)
	}
}

// handler runs a chunk in a Python worker process.
func handler(pool *pyworker.Pool) cluster.Handler {
	return func(ctx context.Context, fn string, body []byte) (cluster.Status, []byte) {
		args, err := pickle.Marshal(pickle.Tuple{fn, body})
		if err != nil {
			return cluster.StatusFail, []byte(err.Error())
		}
		chunk := cluster.ChunkFrom(ctx)
		out, err := pool.CallPickledRetire(ctx, runTarget, args, nil,
			pyworker.Retire{Key: chunk.Pool, Tasks: chunk.MaxTasksPerWorker})
		var exit *pyworker.ExitError
		var perr *pyworker.PythonError
		switch {
		case errors.As(err, &exit):
			return cluster.StatusLost, fmt.Appendf(nil,
				"worker %d exited with code %d while running this task", exit.Pid, exit.Code)
		case errors.As(err, &perr):
			return cluster.StatusFail, fmt.Appendf(nil, "the worker's Python could not run the task "+
				"(is gompx installed for it?): %s\n%s", perr.Error(), perr.Traceback)
		case err != nil:
			return cluster.StatusFail, []byte(err.Error())
		}
		v, err := pickle.Unmarshal(out)
		b, ok := v.([]byte)
		if err != nil || !ok {
			return cluster.StatusFail, fmt.Appendf(nil, "bad answer from %s: %v", runTarget, err)
		}
		return cluster.StatusOK, b
	}
}

func readAuthkey(file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("gompx worker: authkey: %w", err)
		}
		return b, nil
	}
	if h := os.Getenv("GOMPX_AUTHKEY"); h != "" {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("gompx worker: GOMPX_AUTHKEY is not hex: %w", err)
		}
		return b, nil
	}
	return nil, errors.New("gompx worker: no authkey: set GOMPX_AUTHKEY (hex) or pass --authkey-file, " +
		"with the key the pools use (Pool(authkey=...) or their GOMPX_AUTHKEY)")
}

func findPython(p string) (string, error) {
	if p == "" {
		p = "python3"
	}
	if filepath.Base(p) == p {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("gompx worker: no %s on PATH; pass --python", p)
		}
		p = found
	}
	return p, nil
}
