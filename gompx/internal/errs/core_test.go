package errs_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/cluster"
	"github.com/gompx/gompx/gompx/goserve"
	"github.com/gompx/gompx/gompx/internal/arena"
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/frame"
	"github.com/gompx/gompx/gompx/internal/mpq"
	"github.com/gompx/gompx/gompx/internal/psync"
	"github.com/gompx/gompx/gompx/internal/shm"
	"github.com/gompx/gompx/gompx/internal/shmname"
	"github.com/gompx/gompx/gompx/internal/shmring"
	"github.com/gompx/gompx/gompx/internal/workproto"
	"github.com/gompx/gompx/gompx/pyworker"
	"github.com/gompx/gompx/gompx/taskpool"
)

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

// Every package of the core speaks with one voice: a representative error of each,
// real calls with bad input, says "gompx: " once, at the start.
func TestEveryPackagePrefixesOnce(t *testing.T) {
	closedQueue, err := gompx.NewQueue(gompx.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closedQueue.Close()
	a, b, err := gompx.Pipe(true)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	a.Close()
	results, err := gompx.NewQueue(gompx.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()
	pool, err := taskpool.New(taskpool.Options{Results: results, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	pool.Terminate()
	for _, tc := range []struct {
		pkg string
		err error
	}{
		{"gompx: closed conn", second(a.RecvBytes(-1))},
		{"gompx: closed queue", closedQueue.TryPut(int64(1))},
		{"gompx: start", second(gompx.Start(gompx.Cmd{Path: "/nonexistent/gompx-test"}))},
		{"gompx: open lock", second(gompx.OpenLock(gompx.SharedRef{Fd: -1}))},
		{"gompx: listen", second(gompx.Listen("tcp", "not an address", gompx.ListenOptions{}))},
		{"gompx: sentinel", gompx.ErrNotLocked},
		{"gompx: truncated", &gompx.TruncatedError{Got: 1, Want: 4}},
		{"taskpool", second(pool.NewJob(nil, -1, false))},
		{"goserve", second(goserve.NewPool(goserve.Options{}))},
		{"pyworker", second(pyworker.NewPool(pyworker.Options{}))},
		{"cluster", second(cluster.Connect(context.Background(), cluster.Options{URL: "nats://127.0.0.1:1"}))},
		{"internal/mpq", second(mpq.Open(-1))},
		{"internal/psync", second(psync.OpenMutex(make([]byte, 3)))},
		{"internal/arena", second(arena.Open(-1))},
		{"internal/shm", second(shm.Open(-1, false))},
		{"internal/shmname", second(shmname.Open(""))},
		{"gompx: shared memory", second(gompx.OpenSharedMemory("/nonexistent-gompx-test"))},
		{"internal/shmring", second(shmring.Open(-1))},
		{"internal/frame", second(frame.ParseLength([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))},
		{"internal/workproto", third(workproto.ParseReply(nil))},
		{"internal/errs", errs.Deadline(context.DeadlineExceeded)},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.pkg)
			continue
		}
		msg := tc.err.Error()
		if !strings.HasPrefix(msg, errs.Prefix) || strings.Count(msg, errs.Prefix) != 1 {
			t.Errorf("%s: %q does not start with %q exactly once", tc.pkg, msg, errs.Prefix)
		}
		if strings.HasSuffix(msg, ".") {
			t.Errorf("%s: %q ends with a period", tc.pkg, msg)
		}
	}
}

// A pool's, a worker pool's and a cluster's waits time out with the core's sentinel.
func TestLayersShareTheTimeout(t *testing.T) {
	for _, err := range []error{taskpool.ErrTimeout, mpq.ErrTimeout, psync.ErrTimeout, gompx.ErrWaitTimeout} {
		if !errors.Is(err, gompx.ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%v is not gompx.ErrTimeout", err)
		}
	}
}
