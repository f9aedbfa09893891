package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/cluster/natsnode"
	"github.com/nats-io/nats.go/jetstream"
)

var testKey = []byte("test authkey")

// startNode runs a single-node server on 127.0.0.1, a free port.
func startNode(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := natsnode.Start(ctx, natsnode.Options{Host: "127.0.0.1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Shutdown)
	return n.ClientURL()
}

// newTestCaller is a Caller on conn for one test, with the context its calls run in:
// a minute, then the test fails rather than hangs. The Caller closes with the test.
func newTestCaller(t testing.TB, conn *Conn) (context.Context, *Caller) {
	t.Helper()
	return newTestCallerFor(t, conn, time.Minute)
}

// newTestCallerFor is newTestCaller for a test that may take limit.
func newTestCallerFor(t testing.TB, conn *Conn, limit time.Duration) (context.Context, *Caller) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	k, err := NewCaller(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close(ctx) })
	return ctx, k
}

func connect(t testing.TB, url string, key []byte, edit func(*Options)) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := Options{URL: url, Authkey: key, AckWait: 30 * time.Second}
	if edit != nil {
		edit(&o)
	}
	c, err := Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// serve runs a worker until the test ends.
func serve(t testing.TB, c *Conn, name string, slots int, h Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, c, WorkerOptions{Slots: slots, Name: name}, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func reverse(_ context.Context, fn string, body []byte) (Status, []byte) {
	out := make([]byte, len(body))
	for i, b := range body {
		out[len(body)-1-i] = b
	}
	return StatusOK, out
}

func chunkBody(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	copy(b, fmt.Sprintf("chunk %d;", i))
	return b
}

// collect takes every result of job.
func collect(t testing.TB, ctx context.Context, k *Caller, job uint64, ordered bool) []*Result {
	t.Helper()
	var out []*Result
	for range 100000 {
		r, err := k.Take(ctx, job, ordered)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Take after %d results: %v", len(out), err)
		}
		out = append(out, r)
	}
	t.Fatal("Take never said EOF")
	return nil
}

func TestRoundTrip(t *testing.T) {
	url := startNode(t)
	worker := connect(t, url, testKey, nil)
	serve(t, worker, "w1", 3, reverse)
	caller := connect(t, url, testKey, nil)
	for _, tc := range []struct {
		name    string
		chunks  int
		size    int
		ordered bool
	}{
		{"one small chunk", 1, 10, true},
		{"many small, ordered", 200, 100, true},
		{"many small, unordered", 200, 100, false},
		{"object store bodies", 3, InlineLimit + 1000, true},
		{"empty body", 2, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, k := newTestCaller(t, caller)
			job, _ := k.NewJob()
			for i := range tc.chunks {
				if err := k.Submit(ctx, job, uint32(i), "m:f", chunkBody(i, tc.size)); err != nil {
					t.Fatal(err)
				}
			}
			k.SetLength(job, tc.chunks)
			got := collect(t, ctx, k, job, tc.ordered)
			if len(got) != tc.chunks {
				t.Fatalf("%d results, want %d", len(got), tc.chunks)
			}
			seen := map[uint32]bool{}
			for i, r := range got {
				if tc.ordered && r.Chunk != uint32(i) {
					t.Fatalf("result %d is chunk %d", i, r.Chunk)
				}
				_, want := reverse(ctx, "", chunkBody(int(r.Chunk), tc.size))
				if r.Status != StatusOK || !bytes.Equal(r.Body, want) || r.Worker != "w1" || seen[r.Chunk] {
					t.Fatalf("chunk %d: status %s, worker %q, %d bytes (want %d), seen %v",
						r.Chunk, r.Status, r.Worker, len(r.Body), len(want), seen[r.Chunk])
				}
				seen[r.Chunk] = true
			}
		})
	}
}

func TestAuthAndForgery(t *testing.T) {
	url := startNode(t)
	serve(t, connect(t, url, []byte("another key"), nil), "wrong-key", 1, reverse)
	caller := connect(t, url, testKey, nil)
	ctx, k := newTestCaller(t, caller)
	job, _ := k.NewJob()
	// A forged result (wrong key) for chunk 0 arrives before any real one: dropped.
	forger := connect(t, url, []byte("forger"), nil)
	forged := &result{Pool: k.ID(), Job: job, Chunk: 0, Status: StatusOK, Worker: "forger", Body: []byte("evil")}
	if _, err := forger.js.PublishMsg(ctx, forged.toMsg(forger.opts.Authkey, forged.Body)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		k.Submit(ctx, job, uint32(i), "m:f", []byte("payload"))
	}
	k.SetLength(job, 2)
	for _, r := range collect(t, ctx, k, job, true) {
		if r.Status != StatusAuth || !strings.Contains(string(r.Body), "authkey differs") {
			t.Fatalf("chunk %d: %s %q, want an auth failure", r.Chunk, r.Status, r.Body)
		}
	}
	if _, nforged := k.Stats(); nforged != 1 {
		t.Fatalf("%d forged results counted, want 1", nforged)
	}
}

func TestDuplicateResultsCountOnce(t *testing.T) {
	url := startNode(t)
	caller := connect(t, url, testKey, nil)
	ctx, k := newTestCaller(t, caller)
	job, _ := k.NewJob()
	k.SetLength(job, 1)
	// Two workers answered the same chunk (a redelivery): the first counts.
	for _, body := range []string{"first", "second"} {
		r := &result{Pool: k.ID(), Job: job, Chunk: 0, Status: StatusOK, Worker: body, Body: []byte(body)}
		if _, err := caller.js.PublishMsg(ctx, r.toMsg(testKey, r.Body)); err != nil {
			t.Fatal(err)
		}
	}
	got := collect(t, ctx, k, job, true)
	if len(got) != 1 || string(got[0].Body) != "first" {
		t.Fatalf("got %v", got)
	}
	for i := 0; i < 1000; i++ { // the second arrives in its own time
		if dup, _ := k.Stats(); dup == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the duplicate was not counted")
}

// A chunk whose workers all vanish without acking fails after MaxDeliveries runs:
// answered by the worker that gets the next delivery, or, when nobody answers that
// one either, through the server's advisory.
func TestMaxDeliveries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lastWorker bool // a real worker takes the delivery after the last run
		pulls      int  // deliveries the vanishing "worker" takes
	}{
		{"a worker answers the last delivery", true, MaxDeliveries},
		{"nobody answers: the advisory", false, MaxDeliveries + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := startNode(t)
			short := func(o *Options) { o.AckWait = 300 * time.Millisecond }
			caller := connect(t, url, testKey, short)
			ctx, k := newTestCaller(t, caller)
			job, _ := k.NewJob()
			k.Submit(ctx, job, 0, "m:f", []byte("x"))
			k.SetLength(job, 1)
			// A "worker" that takes the chunk and dies every time: pulls, never acks.
			cons, err := connect(t, url, testKey, short).js.Consumer(ctx, TasksStream, WorkerConsumer)
			if err != nil {
				t.Fatal(err)
			}
			// Past its pulls it keeps asking (as idle workers do: the server notices a
			// chunk out of deliveries when it has someone to deliver to).
			pulled, extra := 0, 0
			for range 100 {
				if pulled == tc.pulls && (tc.lastWorker || isDone(k, job)) {
					break
				}
				if _, err := cons.Next(jetstream.FetchMaxWait(200 * time.Millisecond)); err == nil {
					if pulled < tc.pulls {
						pulled++
					} else {
						extra++
					}
				}
			}
			if extra != 0 {
				t.Fatalf("%d deliveries past the last", extra)
			}
			var runs atomic.Int32
			if tc.lastWorker {
				serve(t, connect(t, url, testKey, short), "last", 1, func(ctx context.Context, fn string, body []byte) (Status, []byte) {
					runs.Add(1)
					return StatusOK, nil
				})
			}
			r, err := k.Take(ctx, job, true)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tc.lastWorker {
				want = "last"
			}
			if r.Status != StatusLost || string(r.Body) != lostMessage || pulled != tc.pulls || r.Worker != want || runs.Load() != 0 {
				t.Fatalf("status %s %q from %q after %d pulls, %d runs", r.Status, r.Body, r.Worker, pulled, runs.Load())
			}
			if !strings.Contains(lostMessage, "delivered 3 times") {
				t.Fatalf("message %q", lostMessage)
			}
		})
	}
}

func isDone(k *Caller, job uint64) bool {
	done, _ := k.Done(job)
	return done
}

// A worker that dies holding a chunk (connection gone, no ack) loses it to another
// worker after the ack wait; the result counts once.
func TestRedeliveryToAnotherWorker(t *testing.T) {
	url := startNode(t)
	short := func(o *Options) { o.AckWait = time.Second }
	caller := connect(t, url, testKey, short)
	dying := connect(t, url, testKey, short)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	dctx, dcancel := context.WithCancel(context.Background())
	defer dcancel()
	died := make(chan error, 1)
	go func() {
		died <- Serve(dctx, dying, WorkerOptions{Name: "dying"}, func(ctx context.Context, fn string, body []byte) (Status, []byte) {
			once.Do(func() { close(started) })
			<-release
			return StatusOK, []byte("from the dead")
		})
	}()
	ctx, k := newTestCaller(t, caller)
	job, _ := k.NewJob()
	k.Submit(ctx, job, 0, "m:f", []byte("x"))
	k.SetLength(job, 1)
	<-started
	dying.Close() // its machine is gone: no result, no ack
	close(release)
	if err := <-died; err == nil || !strings.Contains(err.Error(), "gompx: lost the cluster") {
		t.Fatalf("Serve on a closed connection: %v", err)
	}
	var runs atomic.Int32
	serve(t, connect(t, url, testKey, short), "survivor", 1, func(ctx context.Context, fn string, body []byte) (Status, []byte) {
		runs.Add(1)
		return StatusOK, []byte("from the survivor")
	})
	got := collect(t, ctx, k, job, true)
	if len(got) != 1 || got[0].Worker != "survivor" || string(got[0].Body) != "from the survivor" || runs.Load() != 1 {
		t.Fatalf("got %+v after %d runs", got, runs.Load())
	}
}

// A caller that dies leaves its consumer to expire; workers then drop its chunks unrun.
func TestCallerDeathExpires(t *testing.T) {
	url := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caller := connect(t, url, testKey, func(o *Options) { o.CallerExpiry = time.Second })
	k, err := NewCaller(ctx, caller)
	if err != nil {
		t.Fatal(err)
	}
	job, _ := k.NewJob()
	for i := range 5 {
		k.Submit(ctx, job, uint32(i), "m:f", []byte("x"))
	}
	<-caller.js.PublishAsyncComplete()
	k.cc.Stop() // the caller dies: nobody pulls its results any more
	caller.Close()
	observer := connect(t, url, testKey, nil)
	gone := false
	for range 200 {
		if _, err := observer.js.Consumer(ctx, ResultsStream, resultConsumer(k.ID())); errors.Is(err, jetstream.ErrConsumerNotFound) {
			gone = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !gone {
		t.Fatal("the dead caller's consumer did not expire")
	}
	var runs atomic.Int32
	serve(t, connect(t, url, testKey, nil), "w", 2, func(ctx context.Context, fn string, body []byte) (Status, []byte) {
		runs.Add(1)
		return StatusOK, nil
	})
	s, err := observer.js.Stream(ctx, TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(taskSubject(k.ID())))
		if err == nil && info.State.Msgs == 0 {
			if runs.Load() != 0 {
				t.Fatalf("%d chunks of a dead caller ran", runs.Load())
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the dead caller's tasks were not dropped")
}

func TestTerminateFailsUnfinished(t *testing.T) {
	url := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k, err := NewCaller(ctx, connect(t, url, testKey, nil))
	if err != nil {
		t.Fatal(err)
	}
	job, _ := k.NewJob()
	for i := range 3 {
		k.Submit(ctx, job, uint32(i), "m:f", []byte("x"))
	}
	if err := k.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	for c := range 3 {
		r, err := k.Take(ctx, job, true)
		if err != nil || r.Chunk != uint32(c) || r.Status != StatusLost {
			t.Fatalf("chunk %d: %+v, %v", c, r, err)
		}
	}
	if _, err := k.Take(ctx, job, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("after the last: %v, want ErrClosed", err)
	}
	if _, err := k.NewJob(); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewJob after Terminate: %v", err)
	}
}

func TestConnectRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string // "" for allowed
	}{
		{"loopback v4", Options{URL: "nats://127.0.0.1:4222"}, ""},
		{"loopback .3", Options{URL: "nats://127.0.0.3:4222"}, ""},
		{"localhost", Options{URL: "nats://localhost:4222"}, ""},
		{"loopback v6", Options{URL: "nats://[::1]:4222"}, ""},
		{"remote, no credentials", Options{URL: "nats://gompx.invalid:4222"}, "insecure connection: refusing to connect to gompx.invalid:4222 without credentials"},
		{"second of two remote", Options{URL: "nats://127.0.0.1:4222,nats://gompx.invalid:4222"}, "refusing"},
		{"remote, token", Options{URL: "nats://gompx.invalid:4222", Token: "t"}, ""},
		{"remote, user", Options{URL: "nats://gompx.invalid:4222", User: "u", Password: "p"}, ""},
		{"remote, user in URL", Options{URL: "nats://u:p@gompx.invalid:4222"}, ""},
		{"remote, insecure", Options{URL: "nats://gompx.invalid:4222", Insecure: true}, ""},
		{"remote, TLS client certificate", Options{URL: "tls://gompx.invalid:4222", CertFile: "c", KeyFile: "k"}, ""},
		{"remote, TLS without a client certificate", Options{URL: "tls://gompx.invalid:4222", CAFile: "ca"}, "refusing"},
		{"empty", Options{URL: " "}, "no cluster URL"},
		{"no host", Options{URL: "nats://"}, "bad cluster URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.checkURLs()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("checkURLs: %v, want %q", err, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "gompx: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Connect(ctx, Options{URL: "nats://127.0.0.1:4222"}); err == nil || !strings.Contains(err.Error(), "authkey is required") {
		t.Fatalf("Connect without a key: %v", err)
	}
}

// A job watched only after its results are all in is still reported, once.
func TestWatchAfterDone(t *testing.T) {
	url := startNode(t)
	serve(t, connect(t, url, testKey, nil), "w", 1, reverse)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k, err := NewCaller(ctx, connect(t, url, testKey, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)
	job, _ := k.NewJob()
	k.Submit(ctx, job, 0, "m:f", []byte("x"))
	k.SetLength(job, 1)
	for range 3000 {
		if isDone(k, job) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !isDone(k, job) {
		t.Fatal("the job did not finish")
	}
	k.Watch(job)
	k.Watch(job)
	if id, err := k.NextCompleted(ctx); err != nil || id != job {
		t.Fatalf("NextCompleted: %d, %v", id, err)
	}
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	if id, err := k.NextCompleted(short); err == nil {
		t.Fatalf("job %d reported twice", id)
	}
}

// A Take whose context expires fails with the core's one timeout, which is also the
// context's error.
func TestTakeTimesOut(t *testing.T) {
	url := startNode(t)
	caller := connect(t, url, testKey, nil)
	ctx, k := newTestCaller(t, caller)
	job, err := k.NewJob()
	if err != nil {
		t.Fatal(err)
	}
	k.SetLength(job, 1) // and no chunk, nor any worker: nothing will answer
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	_, err = k.Take(short, job, true)
	if !errors.Is(err, gompx.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.HasPrefix(err.Error(), "gompx: ") {
		t.Fatalf("Take past its deadline: %v, want gompx.ErrTimeout", err)
	}
}
