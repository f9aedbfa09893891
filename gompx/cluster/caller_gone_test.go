package cluster

import (
	"context"
	"testing"
	"time"
)

// A terminated caller's running chunks are stopped on the workers (their handler's
// context is canceled), as Pool.terminate() stops a local pool's tasks; the worker's
// slot is then free for the next caller's chunks. The chunk's pool and
// MaxTasksPerWorker reach the handler through ChunkFrom.
func TestTerminatedCallersRunningChunksAreStopped(t *testing.T) {
	url := startNode(t)
	started := make(chan Chunk, 1)
	stopped := make(chan struct{}, 1)
	serve(t, connect(t, url, testKey, nil), "w", 1, func(ctx context.Context, fn string, body []byte) (Status, []byte) {
		if fn != "block" {
			return GoHandler(goFuncs)(ctx, fn, body)
		}
		select {
		case started <- ChunkFrom(ctx):
		default:
			t.Errorf("chunk %s ran twice", fn)
		}
		<-ctx.Done() // runs until stopped
		select {
		case stopped <- struct{}{}:
		default:
		}
		return StatusFail, []byte("stopped")
	})
	ctx, k := newTestCaller(t, connect(t, url, testKey, func(o *Options) { o.MaxTasksPerWorker = 3 }))
	job, err := k.NewJob()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Submit(ctx, job, 0, "block", []byte("x")); err != nil {
		t.Fatal(err)
	}
	var chunk Chunk
	select {
	case chunk = <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the chunk never started")
	}
	if chunk.Pool != k.ID() || chunk.MaxTasksPerWorker != 3 {
		t.Fatalf("ChunkFrom = %+v, want pool %s, 3 tasks", chunk, k.ID())
	}
	if err := k.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the terminated caller's chunk is still running")
	}
	// The one slot serves another caller.
	ctx2, k2 := newTestCaller(t, connect(t, url, testKey, nil))
	out, err := k2.Map(ctx2, "gofuncs:square", []any{int64(3)}, 1)
	if err != nil || len(out) != 1 || out[0] != int64(9) {
		t.Fatalf("Map = %v, %v", out, err)
	}
}
