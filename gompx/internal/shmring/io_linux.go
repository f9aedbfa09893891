package shmring

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/failpoint"
	"github.com/gompx/gompx/gompx/internal/futex"
)

// Write copies all of p into the ring, blocking while it is full. While blocked it
// calls alive after each WaitSlice; if alive returns an error and the consumer still
// makes no room, Write returns that error with part of p possibly written.
func (r *Ring) Write(p []byte, alive func() error) error {
	h := r.h
	size := uint64(len(r.data))
	for len(p) > 0 {
		head := h.Head // only this side writes Head
		free := size - (head - atomic.LoadUint64(&h.Tail))
		if free == 0 {
			if err := r.await(&h.TailSeq, &h.ProdWaiting, func() bool {
				return atomic.LoadUint64(&h.Tail) != head-size
			}, alive); err != nil {
				return err
			}
			continue
		}
		n := min(uint64(len(p)), free, chunk)
		off := head & r.mask
		c := copy(r.data[off:min(off+n, size)], p[:n])
		copy(r.data, p[c:n])
		failpoint.Hit("shmring/written")
		atomic.StoreUint64(&h.Head, head+n)
		if atomic.LoadUint32(&h.ConsWaiting) != 0 {
			atomic.AddUint32(&h.HeadSeq, 1)
			futex.Wake(&h.HeadSeq, 1)
		}
		p = p[n:]
	}
	return nil
}

// Read fills p from the ring, blocking while it is empty; alive is used as in Write.
func (r *Ring) Read(p []byte, alive func() error) error {
	return r.consume(uint64(len(p)), p, alive)
}

// Discard drops n bytes from the ring without copying them.
func (r *Ring) Discard(n int64, alive func() error) error {
	return r.consume(uint64(n), nil, alive)
}

func (r *Ring) consume(total uint64, p []byte, alive func() error) error {
	h := r.h
	size := uint64(len(r.data))
	for done := uint64(0); done < total; {
		tail := h.Tail // only this side writes Tail
		avail := atomic.LoadUint64(&h.Head) - tail
		if avail == 0 {
			if err := r.await(&h.HeadSeq, &h.ConsWaiting, func() bool {
				return atomic.LoadUint64(&h.Head) != tail
			}, alive); err != nil {
				return err
			}
			continue
		}
		n := min(total-done, avail, chunk)
		if p != nil {
			off := tail & r.mask
			c := copy(p[done:done+n], r.data[off:min(off+n, size)])
			copy(p[done+uint64(c):done+n], r.data)
		}
		failpoint.Hit("shmring/consumed")
		atomic.StoreUint64(&h.Tail, tail+n)
		if atomic.LoadUint32(&h.ProdWaiting) != 0 {
			atomic.AddUint32(&h.TailSeq, 1)
			futex.Wake(&h.TailSeq, 1)
		}
		done += n
	}
	return nil
}

// await returns once ready() holds, after a short spin and then futex sleeps on seq
// with the waiting flag raised, cut in WaitSlice slices that consult alive.
func (r *Ring) await(seq, waiting *uint32, ready func() bool, alive func() error) error {
	// This spin ignores cpuload.Busy, unlike every other spin in gompx: a ring side only
	// waits in the middle of a message whose other side is copying right now, so the
	// bytes come within microseconds, and the spin is pure polling (no sched_yield that
	// would hand a CPU hog its slice). Sleeping instead costs a futex wake per chunk,
	// each waiting for a CPU on a loaded machine (Pipe 1 MiB child -> parent fell to
	// ~0.5x stdlib under load without this spin).
	for start := time.Now(); time.Since(start) < spin; {
		for range 64 {
			if ready() {
				return nil
			}
		}
	}
	for {
		s := atomic.LoadUint32(seq)
		atomic.StoreUint32(waiting, 1)
		if ready() {
			atomic.StoreUint32(waiting, 0)
			return nil
		}
		err := futex.Wait(seq, s, WaitSlice)
		atomic.StoreUint32(waiting, 0)
		if ready() {
			return nil
		}
		switch err {
		case nil, unix.EAGAIN, unix.EINTR:
			continue
		case unix.ETIMEDOUT:
		default:
			return errs.Errorf("shmring: futex wait: %w", err)
		}
		if alive != nil {
			if aerr := alive(); aerr != nil {
				if ready() { // the peer published before it went away
					return nil
				}
				return aerr
			}
		}
	}
}
