//go:build gompx_failpoints

package mpq

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/internal/failpoint/fptest"
)

// Kill tests: a child process dies at a failpoint inside the queue's critical sections
// (make failpoints runs them under -race, 100 times each), and the parent checks what a
// survivor must see: nothing published is lost, nothing is delivered twice, neither side
// wedges, and the counts (Len, unfinished tasks) come back to zero.

// fpSizeEnv gives the child the size of the messages it puts.
const fpSizeEnv = "GOMPX_MPQ_FP_SIZE"

// takeover bounds every wait for the survivors: long enough for a dead owner's lock to
// be taken over (a few WaitSlices), so that only a wedge can exceed it.
const takeover = 20 * time.Second

func init() {
	// Puts messages 0, 1, ... (fpSizeEnv bytes each), printing each index once its Put
	// has returned, until the armed failpoint kills it.
	children["fp-produce"] = func(r *Ring) {
		size, _ := strconv.Atoi(os.Getenv(fpSizeEnv))
		for i := 0; i < 50; i++ {
			if err := r.Put(0, takeover, fpMessage(1, i, size)); err != nil {
				fmt.Fprintln(os.Stderr, "put:", err)
				os.Exit(1)
			}
			fmt.Printf("%d\n", i)
		}
		fmt.Fprintln(os.Stderr, "the failpoint never fired")
		os.Exit(1)
	}
	// Reads messages, printing each one's index once End has returned, until the armed
	// failpoint kills it.
	children["fp-consume"] = func(r *Ring) {
		for {
			_, b, err := get(r, takeover)
			if err != nil {
				fmt.Fprintln(os.Stderr, "get:", err)
				os.Exit(1)
			}
			fmt.Printf("%d\n", fpIndex(b))
		}
	}
}

// fpMessage is message i of producer p: its identity, then a pattern to size bytes.
func fpMessage(p, i, size int) []byte {
	b := pattern(max(size, 8), i)
	binary.LittleEndian.PutUint64(b, uint64(p)<<32|uint64(i))
	return b
}

func fpIndex(b []byte) int { return int(binary.LittleEndian.Uint64(b) & 0xffffffff) }

func fpProducer(b []byte) int { return int(binary.LittleEndian.Uint64(b) >> 32) }

// runKilled runs scenario in a child sharing r with spec armed, checks that the
// failpoint killed it, and returns the indices it printed.
func runKilled(t *testing.T, r *Ring, scenario, spec string, env ...string) []int {
	t.Helper()
	cmd := fptest.Command(t, r.Fd(), spec, append(env, childEnv+"="+scenario)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	fptest.MustBeKilled(t, err, fmt.Sprintf("child %s with %s (stderr: %s)", scenario, spec, stderr.String()))
	var got []int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		i, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		got = append(got, i)
	}
	return got
}

// drain reads every message left, the first within takeover (the dead side's lock may
// have to be taken over), marking each done.
func drain(t *testing.T, r *Ring, first time.Duration) [][]byte {
	t.Helper()
	var msgs [][]byte
	for wait := first; ; wait = 0 {
		_, b, err := get(r, wait)
		if errors.Is(err, ErrTimeout) && wait == 0 {
			return msgs
		}
		if errors.Is(err, ErrTorn) {
			continue // the dead producer's message, abandoned between its chunks
		}
		if err != nil {
			t.Fatalf("get after %d messages: %v", len(msgs), err)
		}
		if err := r.TaskDone(); err != nil {
			t.Fatalf("task_done after %d messages: %v", len(msgs), err)
		}
		msgs = append(msgs, b)
	}
}

// settled checks the counts once the queue is empty and every message done: the dead
// process's share was counted out, and nothing published was counted out with it.
func settled(t *testing.T, r *Ring) {
	t.Helper()
	r.reclaim()
	if n := r.Len(); n != 0 {
		t.Errorf("Len = %d on a drained queue", n)
	}
	if n := r.Unfinished(); n != 0 {
		t.Errorf("Unfinished = %d with every delivered message done", n)
	}
	if err := r.Join(0); err != nil {
		t.Errorf("Join on a drained queue: %v", err)
	}
}

func TestFailpointProducerKilled(t *testing.T) {
	const K = 3 // the child dies in its third Put (message 2)
	cases := []struct {
		point     string
		size      int
		published bool // the message being put when the child died must be delivered
	}{
		// Was: a death between the slot's count and Admitted left Admitted one short
		// once reclaim counted the slot out (Unfinished -1, Join hung); both now change
		// under the admission lock's journal, which the next admitter replays.
		{"mpq/admit-locked", 64, false},
		{"mpq/admit-claimed", 64, false},
		{"mpq/admitted", 64, false},
		{"mpq/producer-locked", 64, false},
		{"mpq/produce-write", 64, false},
		{"mpq/produce-publish", 64, true},
		{"mpq/produce-chunk", 700 << 10, false}, // chunked: torn after its first chunk
	}
	for _, c := range cases {
		t.Run(c.point, func(t *testing.T) {
			r := newRing(t, Options{Capacity: 1 << 20, MaxSize: 1000})
			at := K
			if c.point == "mpq/produce-chunk" {
				at = 1 // every chunked message hits it; the first is message 0
			}
			done := runKilled(t, r, "fp-produce", fmt.Sprintf("%s=kill@%d", c.point, at), fpSizeEnv+"="+strconv.Itoa(c.size))
			inFlight := len(done)
			// The survivor puts after the death (while a reader drains: long messages
			// stream through the ring): it must not wedge behind the dead producer's
			// lock or its admitted, unwritten message.
			put := make(chan error, 1)
			go func() {
				for i := 0; i < 3; i++ {
					if err := r.Put(0, takeover, fpMessage(2, i, c.size)); err != nil {
						put <- fmt.Errorf("put after the producer died: %w", err)
						return
					}
				}
				put <- nil
			}()
			var msgs [][]byte
			for parent := 0; parent < 3; {
				_, b, err := get(r, takeover)
				if errors.Is(err, ErrTorn) {
					continue // the dead producer's message, abandoned between its chunks
				}
				if err != nil {
					t.Fatalf("get after the producer died: %v", err)
				}
				if err := r.TaskDone(); err != nil {
					t.Fatal(err)
				}
				if fpProducer(b) == 2 {
					parent++
				}
				msgs = append(msgs, b)
			}
			if err := <-put; err != nil { // before any Fatal: the ring outlives the goroutine
				t.Fatal(err)
			}
			seen := map[int]int{}
			parent := 0
			for _, b := range append(msgs, drain(t, r, 0)...) {
				switch fpProducer(b) {
				case 1:
					seen[fpIndex(b)]++
				case 2:
					if fpIndex(b) != parent {
						t.Fatalf("survivor's message %d arrived as number %d", fpIndex(b), parent)
					}
					parent++
				}
				if !bytes.Equal(b[8:], fpMessage(0, 0, 0)[8:]) && !bytes.Equal(b[8:], pattern(len(b), int(b[0]))[8:]) {
					t.Fatalf("message of %d bytes is corrupt", len(b))
				}
			}
			if parent != 3 {
				t.Fatalf("%d of the survivor's 3 messages arrived", parent)
			}
			for _, i := range done {
				if seen[i] != 1 {
					t.Fatalf("message %d, put before the death, arrived %d times", i, seen[i])
				}
			}
			want := 0
			if c.published {
				want = 1
			}
			if seen[inFlight] != want {
				t.Fatalf("message %d, in flight at the death, arrived %d times, want %d", inFlight, seen[inFlight], want)
			}
			if len(seen) > len(done)+want {
				t.Fatalf("messages arrived that were never put: %v", seen)
			}
			settled(t, r)
		})
	}
}

func TestFailpointConsumerKilled(t *testing.T) {
	const N, K = 10, 4 // the child dies committing its fourth read (message 3)
	cases := []struct {
		point string
		again bool // the message being read at the death is delivered again
	}{
		{"mpq/consume-read", true},
		{"mpq/consume-journal", false},
		{"mpq/consume-applied", false},
	}
	for _, c := range cases {
		t.Run(c.point, func(t *testing.T) {
			r := newRing(t, Options{Capacity: 1 << 20})
			for i := 0; i < N; i++ {
				if err := r.Put(0, 0, fpMessage(1, i, 64)); err != nil {
					t.Fatal(err)
				}
			}
			done := runKilled(t, r, "fp-consume", fmt.Sprintf("%s=kill@%d", c.point, K))
			if len(done) != K-1 {
				t.Fatalf("the child read %v before dying, want %d messages", done, K-1)
			}
			seen := map[int]int{}
			for _, i := range done {
				seen[i]++
			}
			// The dead reader's messages are done as far as it got: mark them so.
			for range done {
				if err := r.TaskDone(); err != nil {
					t.Fatal(err)
				}
			}
			for _, b := range drain(t, r, takeover) {
				seen[fpIndex(b)]++
			}
			for i := 0; i < N; i++ {
				want := 1
				if i == K-1 && !c.again {
					want = 0 // lost with its reader, as the package doc says
				}
				if seen[i] != want {
					t.Fatalf("message %d arrived %d times, want %d (all: %v)", i, seen[i], want, seen)
				}
			}
			if !c.again {
				_ = r.TaskDone() // the lost one
			}
			settled(t, r)
			// Both sides still work.
			if err := r.Put(0, takeover, fpMessage(2, 0, 64)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := get(r, takeover); err != nil {
				t.Fatal(err)
			}
		})
	}
}
