package gompxcore

import (
	"encoding/binary"
	"testing"
)

// TestPoolOnDemandFacade walks what gompx.futures does with an on-demand pool: a call
// submitted with no worker gets a slot, a finished notify job comes out of PoolNext with
// its handle, and the pool's end comes after it.
func TestPoolOnDemandFacade(t *testing.T) {
	q, err := QueueNew(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer QueueDrop(q)
	h, err := PoolNewOnDemand(q, 2, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer PoolFree(h)

	job, err := JobNew(h, 0, 0, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("x")
	lens := make([]byte, 8)
	binary.LittleEndian.PutUint64(lens, 1)
	if _, err := JobSubmit(job, 0, addr(body), addr(lens), 1); err != nil {
		t.Fatal(err)
	}
	slot, err := PoolReserve(h)
	if err != nil || slot != 0 {
		t.Fatalf("PoolReserve = %d, %v; want slot 0", slot, err)
	}
	if _, err := PoolUnreserve(h, slot); err != nil {
		t.Fatal(err)
	}

	out := make([]byte, 40)
	if kind, err := PoolNext(h, addr(out), 0); kind != 0 || err != nil {
		t.Fatalf("PoolNext on a quiet pool = %d, %v; want 0", kind, err)
	}
	if _, err := PoolBreak(h, "on purpose"); err != nil {
		t.Fatal(err)
	}
	field := func(i int) int64 { return int64(binary.LittleEndian.Uint64(out[8*i:])) }
	if kind, err := PoolNext(h, addr(out), 1000); kind != 4 || err != nil || field(4) != job {
		t.Fatalf("PoolNext after the break = %d (job %d), %v; want 4 (job %d)", kind, field(4), err, job)
	}
	if kind, err := PoolNext(h, addr(out), 1000); kind != 3 || err != nil {
		t.Fatalf("PoolNext after the finished job = %d, %v; want 3 (stopped)", kind, err)
	}
	if slot, err := PoolReserve(h); slot != -1 || err != nil {
		t.Errorf("PoolReserve on a broken pool = %d, %v; want -1", slot, err)
	}
	JobDrop(job)
}
