package gompxcore

import (
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"

	"github.com/gompx/gompx/pickle"
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// newTestPool makes a pool with no workers: results come from JobFail, which is enough
// to exercise JobTake's copying, splicing and codes.
func newTestPool(t *testing.T) int64 {
	t.Helper()
	q, err := QueueNew(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	h, err := PoolNew(q, 1, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		PoolFree(h)
		QueueDrop(q)
	})
	return h
}

func TestPoolErrors(t *testing.T) {
	q, _ := QueueNew(0, 1<<20)
	defer QueueDrop(q)
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"no slots", func() error { _, err := PoolNew(q, 0, 0, false); return err }, "ValueError"},
		{"stale queue", func() error { _, err := PoolNew(-5, 1, 0, false); return err }, "handle is closed"},
		{"closed pool", func() error {
			h, _ := PoolNew(q, 1, 0, false)
			defer PoolFree(h)
			PoolClose(h)
			_, err := JobNew(h, 0, 0, 1, false)
			return err
		}, "ValueError:0:Pool not running"},
		{"past the length", func() error {
			h, _ := PoolNew(q, 1, 0, false)
			defer PoolFree(h)
			j, _ := JobNew(h, 0, 0, 1, false)
			_, err := JobFail(j, 3, 1, 0, 0)
			return err
		}, "outside job"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); err == nil || !strings.Contains(describe(err), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestJobTake(t *testing.T) {
	h := newTestPool(t)
	j, err := JobNew(h, 0, 0, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		p, err := pickle.Marshal(int64(i * 100))
		if err != nil {
			t.Fatal(err)
		}
		b := heapBytes(len(p))
		copy(b, p)
		if _, err := JobFail(j, i, 0, addr(b), len(b)); err != nil {
			t.Fatal(err)
		}
	}
	small, lens := heapBytes(4), heapBytes(16*16)
	if r, _ := JobTake(j, TakeOrdered, addr(small), len(small), addr(lens), 16, 0); r > JobNeedRoom {
		t.Fatalf("JobTake into 4 bytes = %d, want a JobNeedRoom code", r)
	}
	buf := heapBytes(4096)
	r, err := JobTake(j, TakeOrdered, addr(buf), len(buf), addr(lens), 16, 0)
	if err != nil || r != 10|JobSpliced {
		t.Fatalf("JobTake = %#x, %v; want 10 | JobSpliced", r, err)
	}
	n := binary.LittleEndian.Uint64(lens[8:])
	v, err := pickle.Unmarshal(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	list, ok := v.([]any)
	if !ok || len(list) != 10 || list[9] != int64(900) {
		t.Fatalf("joined results = %#v, want a list of 10 ending in 900", v)
	}
	if r, _ := JobTake(j, TakeOrdered, addr(buf), len(buf), addr(lens), 16, 0); r != JobExhausted {
		t.Fatalf("JobTake after all = %d, want JobExhausted", r)
	}
	if none, _ := JobDrop(j); none {
		t.Error("JobDrop of a finished job reported that nothing was sent")
	}
}

func TestJobTakeOutcomeFailure(t *testing.T) {
	h := newTestPool(t)
	j, _ := JobNew(h, 0, 0, 3, false)
	msg := heapBytes(5)
	copy(msg, "boom!")
	JobFail(j, 1, 2, addr(msg), len(msg))
	if r, _ := JobTake(j, TakeOutcome, addr(msg), len(msg), addr(heapBytes(64)), 4, 0); r != JobTimedOut {
		t.Fatalf("JobTake of an unfinished job = %d, want JobTimedOut", r)
	}
	ok := heapBytes(1)
	JobFail(j, 0, 0, addr(ok), 1)
	JobFail(j, 2, 0, addr(ok), 1)
	buf, lens := heapBytes(64), heapBytes(64)
	r, err := JobTake(j, TakeOutcome, addr(buf), len(buf), addr(lens), 4, 0)
	if err != nil || r != 1 {
		t.Fatalf("JobTake outcome = %d, %v; want the one failure", r, err)
	}
	code := binary.LittleEndian.Uint64(lens)
	if code>>8 != 1 || code&0xff != 2 || string(buf[:5]) != "boom!" {
		t.Errorf("outcome: index %d status %d payload %q", code>>8, code&0xff, buf[:5])
	}
}
