package mpq

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func newRing(t *testing.T, opts Options) *Ring {
	t.Helper()
	r, err := Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// get reads one whole message.
func get(r *Ring, timeout time.Duration) (byte, []byte, error) {
	m, err := r.Begin(timeout)
	if err != nil {
		return 0, nil, err
	}
	defer r.End()
	buf := make([]byte, m.Len)
	return m.Kind, buf, r.Read(buf)
}

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

func TestHeaderLayout(t *testing.T) {
	var h header
	if got := unsafe.Sizeof(h); got != 448+slotCount*24 || got > dataOffset {
		t.Fatalf("header is %d bytes, want %d within the first page", got, 448+slotCount*24)
	}
	offsets := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"ProducerLock", unsafe.Offsetof(h.ProducerLock), 64},
		{"ConsumerLock", unsafe.Offsetof(h.ConsumerLock), 128},
		{"Tail", unsafe.Offsetof(h.Tail), 192},
		{"Head", unsafe.Offsetof(h.Head), 256},
		{"CJournal", unsafe.Offsetof(h.CJournal), 280},
		{"TasksDone", unsafe.Offsetof(h.TasksDone), 320},
		{"AJournal", unsafe.Offsetof(h.AJournal), 384},
		{"Slots", unsafe.Offsetof(h.Slots), 448},
	}
	for _, o := range offsets {
		if o.got != o.want {
			t.Errorf("%s at %d, want %d", o.name, o.got, o.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		capacity int64
		sizes    []int
	}{
		{"empty and small", MinCapacity, []int{0, 1, 7, 8, 9, 100}},
		{"wraps many times", MinCapacity, repeat(1000, 3000)},
		{"half the ring", MinCapacity, []int{MinCapacity/2 - recordHeader - pageSize, 5, MinCapacity/2 - recordHeader - pageSize, MinCapacity/2 - recordHeader}},
		{"chunked", MinCapacity, []int{MinCapacity, 3*MinCapacity + 11, 1 << 20, 3}},
		{"big ring", 64 << 20, []int{1 << 20, 12, 40 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(t, Options{Capacity: tt.capacity})
			done := make(chan error, 1)
			go func() {
				for i, n := range tt.sizes {
					if err := r.Put(byte(i), -1, pattern(n, i)); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for i, n := range tt.sizes {
				kind, got, err := get(r, 5*time.Second)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if kind != byte(i) || !bytes.Equal(got, pattern(n, i)) {
					t.Fatalf("message %d: kind %d, %d bytes; want kind %d, %d bytes of the pattern", i, kind, len(got), byte(i), n)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if r.Len() != 0 {
				t.Fatalf("Len = %d after draining", r.Len())
			}
		})
	}
}

func repeat(n, v int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestTimeoutsAndMaxSize(t *testing.T) {
	r := newRing(t, Options{Capacity: MinCapacity, MaxSize: 2})
	if _, err := r.Begin(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Begin on empty = %v, want ErrTimeout", err)
	}
	start := time.Now()
	if _, err := r.Begin(50 * time.Millisecond); !errors.Is(err, ErrTimeout) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("Begin(50ms) = %v after %v", err, time.Since(start))
	}
	for i := 0; i < 2; i++ {
		if err := r.Put(0, 0, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Put(0, 0, []byte("x")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Put on full = %v, want ErrTimeout", err)
	}
	if err := r.Put(0, 30*time.Millisecond, []byte("x")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Put(30ms) on full = %v, want ErrTimeout", err)
	}
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2", r.Len())
	}
}

func TestBatchAndNext(t *testing.T) {
	r := newRing(t, Options{})
	msgs := make([][]byte, 100)
	for i := range msgs {
		msgs[i] = []byte(fmt.Sprint(i))
	}
	if n, err := r.Admit(len(msgs), 0); n != 100 || err != nil {
		t.Fatalf("Admit = %d, %v", n, err)
	}
	if n, err := r.PutBatchAdmitted(3, 0, msgs); n != 100 || err != nil {
		t.Fatalf("PutBatch = %d, %v", n, err)
	}
	m, err := r.Begin(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		buf := make([]byte, m.Len)
		if err := r.Read(buf); err != nil || string(buf) != fmt.Sprint(i) {
			t.Fatalf("message %d = %q, %v", i, buf, err)
		}
		var ok bool
		if m, ok = r.Next(); !ok {
			if i != 99 {
				t.Fatalf("Next stopped after %d", i)
			}
			break
		}
	}
	r.End()
}

func TestTaskDoneJoin(t *testing.T) {
	r := newRing(t, Options{})
	if err := r.TaskDone(); !errors.Is(err, ErrTooManyTaskDone) {
		t.Fatalf("TaskDone on nothing = %v", err)
	}
	r.Put(0, 0, nil)
	if err := r.Join(10 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Join with 1 unfinished = %v", err)
	}
	done := make(chan error)
	go func() { time.Sleep(20 * time.Millisecond); done <- r.TaskDone() }()
	if err := r.Join(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestManyProducersConsumers checks none lost, none duplicated, per-producer order.
func TestManyProducersConsumers(t *testing.T) {
	for _, capacity := range []int64{MinCapacity, 0} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			r := newRing(t, Options{Capacity: capacity})
			const producers, consumers, per = 6, 3, 3000
			var wg sync.WaitGroup
			for p := 0; p < producers; p++ {
				wg.Add(1)
				go func(p int) {
					defer wg.Done()
					for i := 0; i < per; i++ {
						size := 4 + (i*131)%3000
						if i%500 == 0 {
							size = 100 << 10 // chunked in the small ring
						}
						b := pattern(size, i)
						b[0], b[1], b[2], b[3] = byte(p), byte(i), byte(i>>8), byte(i>>16)
						if err := r.Put(0, -1, b); err != nil {
							t.Error(err)
							return
						}
					}
				}(p)
			}
			results := make(chan [][]byte, consumers)
			for c := 0; c < consumers; c++ {
				go func() {
					var got [][]byte
					for {
						_, b, err := get(r, 300*time.Millisecond)
						if errors.Is(err, ErrTimeout) {
							results <- got
							return
						}
						if err != nil {
							t.Error(err)
						}
						got = append(got, b)
					}
				}()
			}
			wg.Wait()
			seen := make(map[[2]int]bool)
			for c := 0; c < consumers; c++ {
				last := make(map[int]int)
				for _, b := range <-results {
					p, i := int(b[0]), int(b[1])|int(b[2])<<8|int(b[3])<<16
					if prev, ok := last[p]; ok && i <= prev {
						t.Fatalf("producer %d: %d after %d", p, i, prev)
					}
					last[p] = i
					if seen[[2]int{p, i}] {
						t.Fatalf("duplicate %d/%d", p, i)
					}
					seen[[2]int{p, i}] = true
					want := pattern(len(b), i)
					if !bytes.Equal(b[4:], want[4:]) {
						t.Fatalf("message %d/%d corrupt", p, i)
					}
				}
			}
			if len(seen) != producers*per {
				t.Fatalf("got %d messages, want %d", len(seen), producers*per)
			}
		})
	}
}

// TestSparseRegionPunching keeps a backlog beyond SoftLimit while a producer and a
// consumer run for several laps of the ring: pages the consumer punches out must never
// be ones a producer has refilled (a regression: lazily punched pages destroyed fresh
// messages and the reader met zeroed headers).
func TestSparseRegionPunching(t *testing.T) {
	r := newRing(t, Options{Capacity: 32 << 20})
	const size, total = 64<<10 + 40, 2000
	for i := 0; i < 250; i++ { // ~16 MiB of backlog: past SoftLimit
		if err := r.Put(0, -1, pattern(size, i)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		for i := 250; i < total; i++ {
			if err := r.Put(0, -1, pattern(size, i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < total; i++ {
		_, got, err := get(r, 5*time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, pattern(size, i)) {
			t.Fatalf("message %d corrupt", i)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestStaleHeadOfAnotherView has one process's view of the queue produce once, then
// another view run the ring round several laps and fill it: the first view's remembered
// Head is then more than a ring behind, and must not make it think there is room (a
// regression: the free-space sum wrapped around and unread messages were overwritten).
func TestStaleHeadOfAnotherView(t *testing.T) {
	a := newRing(t, Options{Capacity: MinCapacity})
	fd, err := unix.Dup(a.Fd())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Put(0, 0, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(a, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5*MinCapacity/1000; i++ { // five laps through b
		if err := b.Put(0, 0, pattern(1000, i)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := get(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for ; b.Put(0, 0, pattern(1000, n)) == nil; n++ { // fill it
	}
	if err := a.Put(0, 0, []byte("no room")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Put into a full ring through the stale view = %v, want ErrTimeout", err)
	}
	for i := 0; i < n; i++ {
		_, got, err := get(b, 0)
		if err != nil || !bytes.Equal(got, pattern(1000, i)) {
			t.Fatalf("message %d of %d damaged (%v)", i, n, err)
		}
	}
}

// TestConsumerKilledBetweenPunchAndCommit: a consumer whose commit punches the pages it
// finished out of the ring, and dies before Head moves past them, must not leave the
// next reader at a Head that points into zeroed pages (it reported "not a gompx queue:
// empty record"). It loses at most the message it read.
func TestConsumerKilledBetweenPunchAndCommit(t *testing.T) {
	r := newRing(t, Options{Capacity: 1 << 20})
	r.h.SoftLimit = 0 // every page is past it: each commit that crosses a page punches
	const size, total = 3000, 100
	for i := 0; i < total; i++ {
		if err := r.Put(0, 0, pattern(size, i)); err != nil {
			t.Fatal(err)
		}
	}
	err := runChild(t, r, "die-after-punch")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die in the commit: %v", err)
	}
	first := -1
	for n := 0; ; n++ {
		wait := time.Duration(0)
		if n == 0 {
			wait = 10 * time.Second // bounds the takeover of the dead consumer's lock
		}
		_, got, err := get(r, wait)
		if errors.Is(err, ErrTimeout) && n > 0 {
			break
		}
		if err != nil {
			t.Fatalf("read %d after the consumer died: %v", n, err)
		}
		i := int(got[0]) // pattern(size, i)[0] == byte(i)
		if first < 0 {
			first = i
		}
		if !bytes.Equal(got, pattern(size, first+n)) {
			t.Fatalf("message %d after the death is not message %d", n, first+n)
		}
	}
	// The child read messages 0..first-1; it died committing the last of them.
	if first < 1 {
		t.Fatalf("the child read nothing before dying (next message %d)", first)
	}
}
