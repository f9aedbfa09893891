package pyapi

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx"
)

// overfull returns a queue whose small ring could not take all of n puts of 8 KiB:
// some wait in this process (Pending).
func overfull(t *testing.T, n int) *gompx.Queue {
	t.Helper()
	q, err := gompx.NewQueue(gompx.QueueOptions{Capacity: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Reader(q).AbandonPending(); q.Close() })
	msg := bytes.Repeat([]byte("m"), 8<<10)
	for i := 0; i < n; i++ {
		if err := q.TryPut(msg); err != nil {
			t.Fatal(err)
		}
	}
	if q.Pending() == 0 {
		t.Fatal("nothing pending: the test needs a smaller ring")
	}
	return q
}

func drain(t *testing.T, q *gompx.Queue, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := q.Get(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExitFlush(t *testing.T) {
	const puts = 40
	tests := []struct {
		name string
		// act prepares x for the queue and returns the live queues to pass FlushAll.
		act func(x *ExitFlush, q *gompx.Queue) []*gompx.Queue
		// beforeRead: FlushAll's count while nobody reads; afterRead: once all was read
		// (-1: not tried, the messages were dropped).
		beforeRead, afterRead int
	}{
		{"live is waited for", func(x *ExitFlush, q *gompx.Queue) []*gompx.Queue { return []*gompx.Queue{q} }, 1, 0},
		{"dropped is waited for while it moves", func(x *ExitFlush, q *gompx.Queue) []*gompx.Queue {
			x.Dropped(q)
			return nil
		}, 1, 0},
		{"cancelled is dropped", func(x *ExitFlush, q *gompx.Queue) []*gompx.Queue {
			x.Cancel(q)
			return []*gompx.Queue{q}
		}, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := overfull(t, puts)
			var x ExitFlush
			live := tt.act(&x, q)
			if left := x.FlushAll(live, time.Millisecond); left != tt.beforeRead {
				t.Fatalf("FlushAll with nobody reading left %d, want %d", left, tt.beforeRead)
			}
			if tt.afterRead < 0 {
				q.Flush(-1) // the message the flusher was putting is dropped as it stops
				if q.Pending() != 0 {
					t.Fatalf("%d messages still pending after they were dropped", q.Pending())
				}
				return
			}
			drain(t, q, puts)
			if left := x.FlushAll(live, -1); left != tt.afterRead {
				t.Fatalf("FlushAll once read left %d, want %d", left, tt.afterRead)
			}
		})
	}
}

// TestExitFlushGivesUpOnStalledDropped: a dropped queue nobody reads is given up once
// its pending count has not moved for StalledAfter, and not before.
func TestExitFlushGivesUpOnStalledDropped(t *testing.T) {
	q := overfull(t, 40)
	x := ExitFlush{StalledAfter: 20 * time.Millisecond}
	x.Dropped(q)
	if left := x.FlushAll(nil, 0); left != 1 {
		t.Fatalf("first FlushAll left %d, want 1 (the stall starts now)", left)
	}
	if left := x.FlushAll(nil, 0); left != 1 {
		t.Fatalf("second FlushAll left %d, want 1 (not stalled long enough)", left)
	}
	for x.FlushAll(nil, 5*time.Millisecond) != 0 {
	}
	q.Flush(-1) // the message the flusher was putting is dropped as it stops
	if q.Pending() != 0 {
		t.Fatalf("%d messages pending after the stalled queue was given up", q.Pending())
	}
}

func TestExitFlushDroppedWithNothingPending(t *testing.T) {
	q, err := gompx.NewQueue(gompx.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var x ExitFlush
	x.Dropped(q)
	if len(x.dropped) != 0 {
		t.Fatal("a queue with nothing pending was kept for exit")
	}
}
