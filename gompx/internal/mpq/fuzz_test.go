package mpq

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
)

// FuzzCorruptRing: any process that holds a queue's descriptor can write anything into
// it. Whatever it wrote over the records, Head and Tail, a reader gets messages, or
// ErrBadQueue, ErrTorn or ErrTimeout: never a panic, a wait for a record that will not
// come, or a message length no producer wrote. Without corruption, the reader gets back
// exactly what was put.
func FuzzCorruptRing(f *testing.F) {
	f.Add([]byte{1, 2, 3}, false, uint16(0), []byte(nil), uint8(0), uint32(0), uint32(0))
	f.Add([]byte{10, 0, 200}, true, uint16(0), []byte{0, 0, 0, 0, 0, 0, 0, 0}, uint8(0), uint32(0), uint32(0))
	f.Add([]byte{5}, false, uint16(0), []byte{0x10, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}, uint8(0), uint32(0), uint32(0)) // first chunk, no last, live pid 1
	f.Add([]byte{5, 5}, false, uint16(16), []byte{0xff, 0xff, 0xff, 0xff, 0xff}, uint8(0), uint32(0), uint32(0))      // total 2^40
	f.Add([]byte{5, 5}, false, uint16(0), []byte(nil), uint8(1), uint32(3), uint32(0))                                // misaligned Head
	f.Add([]byte{5, 5}, false, uint16(0), []byte(nil), uint8(2), uint32(0), uint32(60000))                            // Tail past the records
	f.Add([]byte{}, true, uint16(16000), []byte{1, 2, 3, 4}, uint8(3), uint32(65528), uint32(8))
	f.Fuzz(func(t *testing.T, sizes []byte, long bool, at uint16, patch []byte, setPos uint8, head, tail uint32) {
		r := newRing(t, Options{Capacity: MinCapacity})
		var put [][]byte
		if long { // three chunks: the ring is empty, so they fit without a reader
			m := pattern(int(r.maxSingle())+1000, 99)
			if err := r.Put(7, 0, m); err != nil {
				t.Fatal(err)
			}
			put = append(put, m)
		}
		for i, s := range sizes[:min(len(sizes), 16)] {
			m := pattern(int(s)*40, i)
			if r.Put(s, 0, m) != nil {
				break // full
			}
			put = append(put, m)
		}
		corrupt := len(patch) > 0 || setPos&3 != 0
		copy(r.data[uint64(at)%r.cap:], patch)
		if setPos&1 != 0 {
			atomic.StoreUint64(&r.h.Head, uint64(head))
		}
		if setPos&2 != 0 {
			atomic.StoreUint64(&r.h.Tail, atomic.LoadUint64(&r.h.Head)+uint64(tail)%(r.cap+1))
		}
		for i := 0; i < 64; i++ {
			m, err := r.Begin(0)
			if errors.Is(err, ErrTimeout) {
				if !corrupt && i != len(put) {
					t.Fatalf("got %d of %d messages", i, len(put))
				}
				return
			}
			if err != nil {
				if !corrupt || !errors.Is(err, ErrBadQueue) {
					t.Fatalf("begin: %v", err)
				}
				return // a corrupted queue stays corrupted
			}
			if m.Len < 0 {
				r.End()
				t.Fatalf("message length %d", m.Len)
			}
			var buf []byte
			if m.Len > int(r.maxSingle()) { // as gompx.Queue reads: the length may lie
				buf, err = r.ReadAppend(nil)
			} else {
				buf = make([]byte, m.Len)
				err = r.Read(buf)
			}
			r.End()
			if err == nil && len(buf) != m.Len {
				t.Fatalf("read %d bytes of a %d-byte message", len(buf), m.Len)
			}
			switch {
			case !corrupt && (err != nil || i >= len(put) || !bytes.Equal(buf, put[i])):
				t.Fatalf("message %d of an intact queue: %v", i, err)
			case err != nil && !errors.Is(err, ErrBadQueue) && !errors.Is(err, ErrTorn):
				t.Fatalf("read: %v", err)
			}
			if err != nil && !bytes.HasPrefix([]byte(err.Error()), []byte("gompx: mpq: ")) {
				t.Fatalf("error %q does not name the queue", err)
			}
		}
	})
}

// TestTornWhileItsProducerLives: the first chunk of a long message whose producer holds
// no producer lock, and whose next chunk is missing, is torn at once, even though the
// process it names lives (pid 1 here): waiting for that process would wait forever.
func TestTornWhileItsProducerLives(t *testing.T) {
	r := newRing(t, Options{Capacity: MinCapacity})
	m := pattern(int(r.maxSingle())+1000, 1)
	if err := r.Put(0, 0, m); err != nil {
		t.Fatal(err)
	}
	// Keep the first chunk only, and make it name pid 1.
	first := align8(recordHeader + r.chunkPayload())
	atomic.StoreUint64(&r.h.Tail, first)
	r.data[8], r.data[9], r.data[10], r.data[11] = 1, 0, 0, 0
	msg, err := r.Begin(0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.ReadAppend(nil)
	r.End()
	if !errors.Is(err, ErrTorn) || msg.Len != len(m) {
		t.Fatalf("read of a message cut after its first chunk: %v, want ErrTorn", err)
	}
}
