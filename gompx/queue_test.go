//go:build linux

package gompx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gompx/gompx/internal/testpython"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/pickle"
)

func newTestQueue(t *testing.T, opts QueueOptions) *Queue {
	t.Helper()
	q, err := NewQueue(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestQueueValues(t *testing.T) {
	q := newTestQueue(t, QueueOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"int", 42, int64(42)},
		{"string", "héllo", "héllo"},
		{"bytes travel raw", []byte("raw"), []byte("raw")},
		{"nil", nil, nil},
		{"list", []any{int64(1), "two", 3.5}, []any{int64(1), "two", 3.5}},
		{"tuple", pickle.Tuple{true, false}, pickle.Tuple{true, false}},
		{"large bytes", bytes.Repeat([]byte("x"), 3<<20), bytes.Repeat([]byte("x"), 3<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := q.Put(ctx, tt.in); err != nil {
				t.Fatal(err)
			}
			got, err := q.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestQueueErrors(t *testing.T) {
	q := newTestQueue(t, QueueOptions{MaxSize: 1})
	if _, err := q.TryGet(); !errors.Is(err, ErrQueueEmpty) {
		t.Fatalf("TryGet on empty = %v, want ErrQueueEmpty", err)
	}
	if err := q.TryPut(1); err != nil {
		t.Fatal(err)
	}
	if err := q.TryPut(2); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("TryPut on full = %v, want ErrQueueFull", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := q.Put(ctx, 2); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Put with an expiring context = %v, want ErrQueueFull", err)
	}
	if err := q.TaskDone(); err != nil {
		t.Fatalf("TaskDone after one put: %v", err)
	}
	if err := q.TaskDone(); !errors.Is(err, ErrTaskDone) {
		t.Fatalf("second TaskDone = %v, want ErrTaskDone", err)
	}
	if err := q.Put(context.Background(), func() {}); err == nil {
		t.Fatal("Put of a func: no error")
	}
	q.Close()
	if err := q.TryPut(1); !errors.Is(err, ErrQueueClosed) {
		t.Fatalf("TryPut after Close = %v, want ErrQueueClosed", err)
	}
}

// TestQueueUnboundedNeverBlocks fills a small ring with nobody reading: every put
// returns at once, the overflow waits in this process, and all of it comes out in order.
func TestQueueUnboundedNeverBlocks(t *testing.T) {
	q := newTestQueue(t, QueueOptions{Capacity: 64 << 10})
	msg := bytes.Repeat([]byte("m"), 8<<10)
	start := time.Now()
	for i := 0; i < 200; i++ {
		msg[0] = byte(i)
		if err := q.TryPut(msg); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("200 puts took %v", time.Since(start))
	}
	if q.Pending() == 0 {
		t.Fatal("a 64 KiB ring took 1.6 MiB without anything pending")
	}
	if q.Flush(10 * time.Millisecond) {
		t.Fatal("Flush succeeded with nobody reading")
	}
	for i := 0; i < 200; i++ {
		v, err := q.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if b := v.([]byte); b[0] != byte(i) || len(b) != len(msg) {
			t.Fatalf("message %d: first byte %d, %d bytes", i, b[0], len(b))
		}
	}
	if !q.Flush(time.Second) {
		t.Fatal("pending messages left after all were read")
	}
}

func TestQueueCloseEndsWaits(t *testing.T) {
	q, err := NewQueue(QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := q.Get(context.Background())
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	q.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrQueueClosed) {
			t.Fatalf("Get across Close = %v, want ErrQueueClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Get still waiting 2 s after Close")
	}
}

func init() {
	// Puts numbered messages of assorted sizes (a 64 KiB ring chunks some) until killed.
	testChildren["queue-producer"] = func() {
		q, err := OpenQueue(4)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for i := 0; ; i++ {
			q.Send(KindBytes, -1, queueTestMessage(i))
		}
	}
	// Takes messages until killed.
	testChildren["queue-consumer"] = func() {
		q, err := OpenQueue(4)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for {
			q.Receive(-1)
		}
	}
}

// queueTestMessage is message i: its number, then a pattern derived from it.
func queueTestMessage(i int) []byte {
	size := 8 + i%5*1000
	if i%7 == 0 {
		size = 100 << 10
	}
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i + j*31)
	}
	copy(b, fmt.Sprintf("%08d", i%100000000))
	return b
}

func checkQueueTestMessage(t *testing.T, b []byte) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(string(b[:8]), "%08d", &i); err != nil {
		t.Fatalf("message without a number: %q", b[:min(len(b), 16)])
	}
	want := queueTestMessage(i)
	if !bytes.Equal(b, want) {
		t.Fatalf("message %d corrupt (%d bytes, want %d)", i, len(b), len(want))
	}
	return i
}

// TestQueueSurvivesKilledProcesses SIGKILLs producers and consumers at random moments
// (inside the lock, mid-chunk, anywhere): afterwards the queue still works, every
// message read is intact, and each producer's messages come in order.
func TestQueueSurvivesKilledProcesses(t *testing.T) {
	q := newTestQueue(t, QueueOptions{Capacity: 64 << 10})
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 8; round++ {
		role := []string{"queue-producer", "queue-consumer"}[round%2]
		if role == "queue-consumer" {
			for i := 0; i < 50; i++ {
				q.Send(KindBytes, -1, queueTestMessage(i))
			}
		}
		child := startQueueChild(t, role, q)
		time.Sleep(time.Duration(rng.Intn(150)) * time.Millisecond)
		child.Process.Signal(syscall.SIGKILL)
		child.Wait()
		last := -1
		for {
			_, b, err := q.Receive(300 * time.Millisecond)
			if errors.Is(err, ErrQueueEmpty) {
				break
			}
			if errors.Is(err, ErrMessageTorn) {
				continue
			}
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			i := checkQueueTestMessage(t, b)
			if role == "queue-producer" && i <= last {
				t.Fatalf("round %d: message %d after %d", round, i, last)
			}
			last = i
		}
		if err := q.Send(KindBytes, time.Second, []byte("after")); err != nil {
			t.Fatalf("round %d: put after the kill: %v", round, err)
		}
		if _, b, err := q.Receive(time.Second); err != nil || string(b) != "after" {
			t.Fatalf("round %d: get after the kill = %q, %v", round, b, err)
		}
		if n := q.Len(); n != 0 {
			t.Fatalf("round %d: Len = %d on a drained queue", round, n)
		}
	}
}

func startQueueChild(t *testing.T, scenario string, q *Queue) *exec.Cmd {
	t.Helper()
	f := queueFile(t, q)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), testChildEnv+"="+scenario)
	// fd 3 is unused by these scenarios; the queue lands on fd 4 as in gompx children.
	cmd.ExtraFiles = []*os.File{f, f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// queueFile is a duplicate of the queue's descriptor for a child's ExtraFiles: the
// os.File closes it, not the queue's own.
func queueFile(t *testing.T, q *Queue) *os.File {
	t.Helper()
	fd, err := unix.Dup(q.Fd())
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "queue")
	t.Cleanup(func() { f.Close() })
	return f
}

// pythonQueuePeer attaches to the queues on fds 3 (requests) and 4 (replies) and
// answers each request x with (type name, x), until None.
const pythonQueuePeer = `
from gompx import queues
requests, replies = queues.attach(3), queues.attach(4)
while True:
    x = requests.get(timeout=20)
    if x is None:
        break
    replies.put((type(x).__name__, x))
replies.put(bytearray(b"\x01" * (1 << 20)))  # out-of-band: a pickle with buffers
replies.close()
replies.join_thread()
`

// TestQueueWithPython runs a Go program and a CPython process with gompx on the two
// ends of two queues, exchanging values through the pickle package.
func TestQueueWithPython(t *testing.T) {
	python := testpython.WithGompx(t, "gompx.queues")
	requests := newTestQueue(t, QueueOptions{})
	replies := newTestQueue(t, QueueOptions{})
	cmd := exec.Command(python, "-c", pythonQueuePeer)
	cmd.ExtraFiles = []*os.File{queueFile(t, requests), queueFile(t, replies)}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		in       any
		typeName string
		want     any
	}{
		{int64(7), "int", int64(7)},
		{"text", "str", "text"},
		{[]byte("raw bytes"), "bytes", []byte("raw bytes")},
		{bytes.Repeat([]byte{9}, 5<<20), "bytes", bytes.Repeat([]byte{9}, 5<<20)},
		{[]any{int64(1), "x"}, "list", []any{int64(1), "x"}},
		{3.25, "float", 3.25},
	}
	for _, tt := range tests {
		if err := requests.Put(ctx, tt.in); err != nil {
			t.Fatal(err)
		}
	}
	requests.Put(ctx, nil)
	for _, tt := range tests {
		got, err := replies.Get(ctx)
		if err != nil {
			t.Fatalf("%v; python stderr:\n%s", err, stderr.String())
		}
		want := pickle.Tuple{tt.typeName, tt.want}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("reply %v, want %v", summarize(got), summarize(want))
		}
	}
	got, err := replies.Get(ctx)
	if err != nil {
		t.Fatalf("%v; python stderr:\n%s", err, stderr.String())
	}
	if ba, ok := got.(pickle.ByteArray); !ok || len(ba) != 1<<20 || ba[0] != 1 {
		t.Fatalf("out-of-band bytearray came back as %v", summarize(got))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
}

func summarize(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// TestQueueOrderAcrossPendingMessages puts numbered messages into a small ring that a
// slow reader drains, so puts alternate between the ring and this process's pending
// list: the order must hold across the switch. (A put that found the list empty while
// the flusher was still writing the last message from it could overtake that message;
// the window is too narrow to hit on purpose, the stress tests in tests/ met it.)
func TestQueueOrderAcrossPendingMessages(t *testing.T) {
	q := newTestQueue(t, QueueOptions{Capacity: 64 << 10})
	const n = 20000
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			_, b, err := q.Receive(5 * time.Second)
			if err != nil {
				done <- err
				return
			}
			if got := int(b[0]) | int(b[1])<<8 | int(b[2])<<16; got != i {
				done <- fmt.Errorf("message %d arrived as number %d", got, i)
				return
			}
			if i%64 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
		done <- nil
	}()
	msg := make([]byte, 700)
	for i := 0; i < n; i++ {
		msg[0], msg[1], msg[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := q.Send(KindBytes, -1, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A batch longer than a bounded queue's room goes in as consumers make room: the part
// admitted first must be written before waiting for more, or it holds the room the
// rest waits for (SendBatch then hung until its timeout, with nothing readable).
func TestQueueSendBatchLongerThanMaxSize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		read    bool
		sent    int
		wantErr error
	}{
		{"nobody reads", 50 * time.Millisecond, false, 40, ErrQueueFull},
		{"a reader makes room", 10 * time.Second, true, 100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newTestQueue(t, QueueOptions{MaxSize: 40})
			msgs := make([][]byte, 100)
			for i := range msgs {
				msgs[i] = []byte{byte(i)}
			}
			got := make(chan []byte, 100)
			if tc.read {
				go func() {
					for i := 0; i < 100; i++ {
						_, b, err := q.Receive(10 * time.Second)
						if err != nil {
							close(got)
							return
						}
						got <- b
					}
					close(got)
				}()
			}
			sent, err := q.SendBatch(KindBytes, tc.timeout, msgs)
			if sent != tc.sent || !errors.Is(err, tc.wantErr) {
				t.Fatalf("SendBatch = %d, %v; want %d, %v", sent, err, tc.sent, tc.wantErr)
			}
			if !tc.read {
				for i := 0; i < tc.sent; i++ {
					_, b, err := q.Receive(time.Second)
					if err != nil || b[0] != byte(i) {
						t.Fatalf("message %d: %v, %v", i, b, err)
					}
				}
				return
			}
			i := 0
			for b := range got {
				if b[0] != byte(i) {
					t.Fatalf("message %d is %d", i, b[0])
				}
				i++
			}
			if i != 100 {
				t.Fatalf("read %d of 100", i)
			}
		})
	}
}
