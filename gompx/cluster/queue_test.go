package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func openQueue(t testing.TB, c *Conn, o QueueOptions) *Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := OpenQueue(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestQueueFIFOAcrossConnections: two connections (two "processes") open one name and
// see one queue, in order, with large items through the object store.
func TestQueueFIFOAcrossConnections(t *testing.T) {
	url := startNode(t)
	a := openQueue(t, connect(t, url, testKey, nil), QueueOptions{Name: "jobs"})
	b := openQueue(t, connect(t, url, testKey, nil), QueueOptions{Name: "jobs"})
	ctx := ctxFor(t, 60*time.Second)
	big := bytes.Repeat([]byte("x"), InlineLimit+1)
	items := [][]byte{[]byte("one"), big, []byte("three"), {}}
	for _, it := range items[:2] {
		if err := a.Put(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := a.PutMany(ctx, items[2:]); err != nil || n != 2 {
		t.Fatalf("PutMany = %d, %v", n, err)
	}
	if n, err := b.Len(ctx); err != nil || n != 4 {
		t.Fatalf("Len = %d, %v; want 4", n, err)
	}
	got, err := b.GetMany(ctx, 2)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], items[0]) || !bytes.Equal(got[1], big) {
		t.Fatalf("GetMany = %d items, %v", len(got), err)
	}
	for _, want := range items[2:] {
		if it, err := a.Get(ctx); err != nil || !bytes.Equal(it, want) {
			t.Fatalf("Get = %q, %v; want %q", it, err, want)
		}
	}
	if _, err := b.TryGet(ctx); !errors.Is(err, ErrEmpty) {
		t.Fatalf("TryGet on an empty queue: %v, want ErrEmpty", err)
	}
	short := ctxFor(t, 200*time.Millisecond)
	if _, err := b.Get(short); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Get with a deadline on an empty queue: %v, want ErrEmpty", err)
	}
}

// TestQueueBounded: a queue at its maxsize refuses TryPut and makes Put wait until a
// getter makes room.
func TestQueueBounded(t *testing.T) {
	url := startNode(t)
	c := connect(t, url, testKey, nil)
	q := openQueue(t, c, QueueOptions{Name: "bounded", MaxSize: 2})
	ctx := ctxFor(t, 60*time.Second)
	if n, err := q.PutMany(ctx, [][]byte{[]byte("a"), []byte("b")}); err != nil || n != 2 {
		t.Fatalf("PutMany = %d, %v", n, err)
	}
	if err := q.TryPut(ctx, []byte("c")); !errors.Is(err, ErrFull) {
		t.Fatalf("TryPut on a full queue: %v, want ErrFull", err)
	}
	if err := q.Put(ctxFor(t, 100*time.Millisecond), []byte("c")); !errors.Is(err, ErrFull) {
		t.Fatalf("Put with a deadline on a full queue: %v, want ErrFull", err)
	}
	done := make(chan error, 1)
	go func() { done <- q.Put(ctx, []byte("c")) }()
	if it, err := q.Get(ctx); err != nil || string(it) != "a" {
		t.Fatalf("Get = %q, %v", it, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Put after room was made: %v", err)
	}
	for _, want := range []string{"b", "c"} {
		if it, err := q.Get(ctx); err != nil || string(it) != want {
			t.Fatalf("Get = %q, %v; want %q", it, err, want)
		}
	}
}

// TestQueueOpenRefusals: a bad name, and a name open with other settings.
func TestQueueOpenRefusals(t *testing.T) {
	url := startNode(t)
	c := connect(t, url, testKey, nil)
	openQueue(t, c, QueueOptions{Name: "q1", MaxSize: 3})
	ctx := ctxFor(t, 30*time.Second)
	for _, tc := range []struct {
		o    QueueOptions
		want error
	}{
		{QueueOptions{Name: "a.b"}, ErrQueueName},
		{QueueOptions{Name: ""}, ErrQueueName},
		{QueueOptions{Name: "q1", MaxSize: 4}, ErrQueueMismatch},
		{QueueOptions{Name: "q1", MaxSize: 3, Joinable: true}, ErrQueueMismatch},
	} {
		if _, err := OpenQueue(ctx, c, tc.o); !errors.Is(err, tc.want) {
			t.Errorf("OpenQueue(%+v) = %v, want %v", tc.o, err, tc.want)
		}
	}
}

// TestQueueBadMAC: an item put with another authkey is dropped by the getter with
// ErrBadMAC; the next good item still comes.
func TestQueueBadMAC(t *testing.T) {
	url := startNode(t)
	good := openQueue(t, connect(t, url, testKey, nil), QueueOptions{Name: "mac"})
	evil := openQueue(t, connect(t, url, []byte("another key"), nil), QueueOptions{Name: "mac"})
	ctx := ctxFor(t, 30*time.Second)
	if err := evil.Put(ctx, []byte("forged")); err != nil {
		t.Fatal(err)
	}
	if err := good.Put(ctx, []byte("real")); err != nil {
		t.Fatal(err)
	}
	if _, err := good.Get(ctx); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("Get of a forged item: %v, want ErrBadMAC", err)
	}
	if it, err := good.Get(ctx); err != nil || string(it) != "real" {
		t.Fatalf("Get = %q, %v", it, err)
	}
}

// TestJoinableQueue: Join waits for every put item's TaskDone, from any connection;
// one TaskDone too many is ErrTaskDone.
func TestJoinableQueue(t *testing.T) {
	url := startNode(t)
	o := QueueOptions{Name: "joinable", Joinable: true}
	producer := openQueue(t, connect(t, url, testKey, nil), o)
	ctx := ctxFor(t, 60*time.Second)
	if err := producer.Join(ctx); err != nil {
		t.Fatalf("Join of a fresh queue: %v", err)
	}
	const n = 20
	var bodies [][]byte
	for i := range n {
		bodies = append(bodies, []byte(fmt.Sprint(i)))
	}
	if _, err := producer.PutMany(ctx, bodies); err != nil {
		t.Fatal(err)
	}
	if u, err := producer.Unfinished(ctx); err != nil || u != n {
		t.Fatalf("Unfinished = %d, %v; want %d", u, err, n)
	}
	if err := producer.Join(ctxFor(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join with unfinished tasks: %v, want a deadline", err)
	}
	var wg sync.WaitGroup
	for range 3 {
		consumer := openQueue(t, connect(t, url, testKey, nil), o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := consumer.Get(ctxFor(t, 500*time.Millisecond)); err != nil {
					return
				}
				if err := consumer.TaskDone(ctx); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	if err := producer.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wg.Wait()
	if err := producer.TaskDone(ctx); !errors.Is(err, ErrTaskDone) {
		t.Fatalf("TaskDone once too often: %v, want ErrTaskDone", err)
	}
	if err := producer.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestQueueThreeNodes: a producer and a consumer share a queue replicated on 3 nodes;
// the queue keeps its items, in order, when the node leading its stream stops.
func TestQueueThreeNodes(t *testing.T) {
	nodes := startThree(t)
	opts := func(o *Options) { o.Replicas = 3 }
	o := QueueOptions{Name: "shared", Joinable: true}
	producer := openQueue(t, connect(t, urls(nodes), testKey, opts), o)
	consumer := openQueue(t, connect(t, urls(nodes), testKey, opts), o)
	ctx := ctxFor(t, 120*time.Second)
	const n = 50
	for i := range n {
		if err := producer.Put(ctx, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	info, err := consumer.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for j, node := range nodes {
		if info.Cluster.Leader == fmt.Sprintf("n%d", j+1) {
			node.Shutdown()
			found = true
		}
	}
	if !found {
		t.Fatalf("no node is the stream's leader %q", info.Cluster.Leader)
	}
	for i := range n {
		var it []byte
		err := retry(ctx, func(c context.Context) error {
			var err error
			it, err = consumer.Get(c)
			return err
		})
		if err != nil || string(it) != fmt.Sprint(i) {
			t.Fatalf("item %d: %q, %v", i, it, err)
		}
		if err := retry(ctx, consumer.TaskDone); err != nil {
			t.Fatal(err)
		}
	}
	if err := retry(ctx, producer.Join); err != nil {
		t.Fatalf("Join: %v", err)
	}
}
