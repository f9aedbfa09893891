package mpq

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/cpuload"
	"github.com/gompx/gompx/gompx/internal/failpoint"
)

// producer is the producer side's view while this process holds the producer lock:
// the tail written but not yet published.
type producer struct {
	r         *Ring
	tail      uint64
	completed uint64 // messages written in full since the last commit
	dirty     bool
}

func (r *Ring) acquireProducer(dl deadline) (*producer, error) {
	// A dead previous owner needs no repair: Tail is the producers' only shared state,
	// one store, and whatever it wrote past Tail is overwritten.
	recovered, err := r.lockSide(&r.producerGate, &r.h.ProducerLock, dl)
	if err != nil {
		return nil, err
	}
	if recovered {
		r.settlePublish()
	}
	// The producer gate is held: this process's one producer view is ours to reset.
	r.prod = producer{r: r, tail: atomic.LoadUint64(&r.h.Tail)}
	failpoint.Hit("mpq/producer-locked")
	return &r.prod, nil
}

func (p *producer) release() {
	p.commit()
	p.r.unlockSide(&p.r.producerGate, &p.r.h.ProducerLock)
}

// commit publishes what was written: consumers see it from here on.
func (p *producer) commit() {
	if !p.dirty {
		return
	}
	h := p.r.h
	journaled := p.completed > 0 && p.r.slot.Load() != nil
	var gen uint64
	if journaled {
		j := &h.PJournal
		gen = atomic.LoadUint64(&j.State)>>32 + 1
		j.Tail, j.Count = p.tail, p.completed
		atomic.StoreUint64(&j.State, gen<<32|uint64(p.r.pid))
	}
	atomic.StoreUint64(&h.Tail, p.tail)
	failpoint.Hit("mpq/produce-publish")
	// Published, they leave this process's share: a consumer now counts them out.
	p.r.release(p.completed)
	if journaled {
		atomic.StoreUint64(&h.PJournal.State, gen<<32)
	}
	p.completed = 0
	p.dirty = false
	wake(&h.DataSeq, &h.DataWaiters)
}

// Put admits one message (Admit) and writes it (PutAdmitted), waiting up to timeout
// (negative: forever, zero: not at all) for both; ErrTimeout if either did not happen.
func (r *Ring) Put(kind byte, timeout time.Duration, segs ...[]byte) error {
	dl := after(timeout)
	if _, err := r.admit(1, dl); err != nil {
		return err
	}
	if err := r.putAdmitted(kind, dl, segs); err != nil {
		r.Unadmit(1)
		return err
	}
	return nil
}

// PutAdmitted writes one admitted message whose payload is the concatenation of segs,
// waiting up to timeout (negative: forever, zero: not at all) for the producer lock and
// room for its first chunk; ErrTimeout if that did not happen in time (the message is
// still admitted). A message longer than the ring streams through it after that,
// waiting for consumers as long as it takes.
func (r *Ring) PutAdmitted(kind byte, timeout time.Duration, segs ...[]byte) error {
	return r.putAdmitted(kind, after(timeout), segs)
}

func (r *Ring) putAdmitted(kind byte, dl deadline, segs [][]byte) error {
	p, err := r.acquireProducer(dl)
	if err != nil {
		return err
	}
	defer p.release()
	return p.write(kind, segs, dl)
}

// PutBatchAdmitted writes each of msgs, all admitted, as one message, in order, under
// one acquisition of the producer lock and with one publication when they fit. It
// returns how many it wrote: fewer than len(msgs) only with ErrTimeout (the rest did not
// fit in time; the timeout covers the whole batch; they stay admitted).
func (r *Ring) PutBatchAdmitted(kind byte, timeout time.Duration, msgs [][]byte) (int, error) {
	dl := after(timeout)
	p, err := r.acquireProducer(dl)
	if err != nil {
		return 0, err
	}
	defer p.release()
	one := make([][]byte, 1)
	for i, m := range msgs {
		one[0] = m
		if err := p.write(kind, one, dl); err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}

func (p *producer) write(kind byte, segs [][]byte, dl deadline) error {
	r, h := p.r, p.r.h
	var total uint64
	for _, s := range segs {
		total += uint64(len(s))
	}
	chunk := total
	if total > r.maxSingle() {
		chunk = r.chunkPayload()
	}
	src := segReader{segs: segs}
	flags := byte(flagFirst)
	for written := uint64(0); ; {
		n := min(chunk, total-written)
		pos, err := p.reserve(n, flags&flagFirst != 0, dl)
		if err != nil {
			return err // only possible before the first chunk
		}
		dl = deadline{forever: true}
		if written+n == total {
			flags |= flagLast
		}
		rec := r.data[pos%r.cap:]
		if n >= populateMin && pos%r.cap+recordHeader+n > h.SoftLimit {
			r.populate(pos%r.cap, recordHeader+n)
		}
		binary.LittleEndian.PutUint64(rec[0:], uint64(n)|uint64(flags)<<32|uint64(kind)<<40)
		binary.LittleEndian.PutUint64(rec[8:], uint64(r.pid))
		binary.LittleEndian.PutUint64(rec[16:], total)
		src.copyTo(rec[recordHeader : recordHeader+n])
		p.tail = pos + align8(recordHeader+n)
		p.dirty = true
		failpoint.Hit("mpq/produce-write")
		written += n
		if flags&flagLast != 0 {
			p.completed++
			return nil
		}
		flags = 0
		p.commit() // consumers read the chunks of a long message as they come
		failpoint.Hit("mpq/produce-chunk")
	}
}

// reserve finds room for a record with a payload of n bytes at the tail, writing skip
// records to wrap when needed, and returns its position.
func (p *producer) reserve(n uint64, start bool, dl deadline) (uint64, error) {
	r, h := p.r, p.r.h
	need := align8(recordHeader + n)
	// Head is read only when the last value read leaves too little room: the consumers
	// write its cache line on every message.
	moved := func() bool {
		head := atomic.LoadUint64(&h.Head)
		if head == r.seenHead {
			return false
		}
		r.seenHead = head
		return true
	}
	var spinUntil time.Time
	for {
		head := r.seenHead
		off := p.tail % r.cap
		// The page holding Head counts as in use until Head leaves it: consumers punch
		// pages out of the file only once wholly read (see commit in consume.go).
		var free uint64
		if limit := head&^(pageSize-1) + r.cap; limit > p.tail { // an old Head may lag a lap
			free = limit - p.tail
		}
		// Going back to the hot start applies to a message start that would reach past
		// SoftLimit, in a ring that has room beyond it (see doc.go).
		early := start && off > 0 && off+need > h.SoftLimit && h.SoftLimit < r.cap
		if early && p.tail-head > h.SoftLimit/2 {
			if moved() {
				continue // the wrap below depends on how short the queue is: look at Head
			}
			if p.waitToWrap(moved) {
				continue
			}
		}
		switch {
		case early && p.tail-head <= h.SoftLimit/2 && r.cap-off+need <= free:
			// Back to the hot start of the ring while the queue is short (see doc.go).
			p.skip(off)
			continue
		case off+need > r.cap && r.cap-off <= free:
			p.skip(off)
			continue
		case off+need <= r.cap && need <= free:
			return p.tail, nil
		}
		if moved() {
			continue
		}
		// Wait for consumers: any message they take moves Head. What this side wrote so
		// far must be visible to them first.
		p.commit()
		if _, err := r.awaitConsumers(dl, &spinUntil, moved); err != nil {
			return 0, err
		}
	}
}

// awaitConsumers is one step of a producer's wait for consumers to take messages: none
// while the spin window (started on the first step) lasts, the caller looking again at
// once; after it, one sleep on SpaceSeq of at most a slice, cut short when ready() holds,
// reported as slept. ErrTimeout once dl has passed, ErrClosed after Interrupt,
// ErrInterrupted when a signal ended the sleep (package intr).
func (r *Ring) awaitConsumers(dl deadline, spinUntil *time.Time, ready func() bool) (slept bool, err error) {
	if dl.try() {
		return false, ErrTimeout
	}
	if spinUntil.IsZero() {
		*spinUntil = time.Now()
		if !cpuload.Busy() { // never spin while every CPU has work
			*spinUntil = spinUntil.Add(spinFor)
		}
	}
	if time.Now().Before(*spinUntil) {
		return false, nil
	}
	slice := dl.slice()
	if slice == 0 {
		return false, ErrTimeout
	}
	if err := r.sleepUnless(&r.h.SpaceSeq, &r.h.SpaceWaiters, slice, ready); err != nil {
		return true, err
	}
	if r.stop.Load() {
		return true, ErrClosed
	}
	return true, nil
}

// hotWait is how long a producer past SoftLimit waits for readers to shorten the queue
// enough to go back to the start of the ring, rather than write into pages no process
// has touched yet (a page fault each, ~2.5 µs on a VM) that readers then punch out again.
// Readers that keep up bring the queue back within a message or two; a queue nobody
// reads makes the wait end at once for the next noReaderFor.
const (
	hotWait     = 2 * time.Millisecond
	noReaderFor = 100 * time.Millisecond
)

// waitToWrap waits up to hotWait for Head to move (moved reports it), unless a recent
// wait saw no reader at all. It reports whether it saw Head move.
func (p *producer) waitToWrap(moved func() bool) bool {
	r, h := p.r, p.r.h
	now := time.Now()
	if now.Before(r.noReaderUntil) {
		return false
	}
	p.commit() // readers must see what is written to make progress
	for until := now.Add(hotWait); ; {
		left := time.Until(until)
		if left <= 0 {
			r.noReaderUntil = time.Now().Add(noReaderFor)
			return false
		}
		// A signal here only shortens this bounded wait: the caller's next wait reports it.
		_ = r.sleepUnless(&h.SpaceSeq, &h.SpaceWaiters, left, moved)
		if moved() || r.stop.Load() {
			return true
		}
	}
}

// skip writes a skip record from ring offset off to the end of the ring.
func (p *producer) skip(off uint64) {
	n := p.r.cap - off
	binary.LittleEndian.PutUint64(p.r.data[off:], n|uint64(flagSkip)<<32)
	p.tail += n
	p.dirty = true
}

// segReader copies the concatenation of segs out in pieces.
type segReader struct {
	segs [][]byte
	i, j int
}

func (s *segReader) copyTo(dst []byte) {
	for len(dst) > 0 {
		n := copy(dst, s.segs[s.i][s.j:])
		dst = dst[n:]
		s.j += n
		if s.j == len(s.segs[s.i]) {
			s.i, s.j = s.i+1, 0
		}
	}
}

// The consumer side commits through its journal (see doc.go) in two steps:
// writeJournal, then whatever a successor must not see the old state after (the punch
// of finished pages, in commit), then finishJournal.

// writeJournal records the new state and marks it valid: from here on a successor of a
// dead lock owner applies it. The journal's values are plain stores: only the lock holder
// writes them, a successor reads them only after seeing Valid, and the atomic store of
// Valid orders them before it.
func writeJournal(j *journal, pos, msgs uint64) {
	j.Position, j.Messages = pos, msgs
	atomic.StoreUint64(&j.Valid, 1)
}

// finishJournal applies the state writeJournal recorded and clears the journal.
func finishJournal(j *journal, position, messages *uint64, pos, msgs uint64) {
	atomic.StoreUint64(position, pos)
	atomic.StoreUint64(messages, msgs)
	atomic.StoreUint64(&j.Valid, 0)
}

// replay finishes a commit a dead lock owner left half done.
func (r *Ring) replay(j *journal, position, messages *uint64) {
	if atomic.LoadUint64(&j.Valid) == 0 {
		return
	}
	atomic.StoreUint64(position, atomic.LoadUint64(&j.Position))
	atomic.StoreUint64(messages, atomic.LoadUint64(&j.Messages))
	atomic.StoreUint64(&j.Valid, 0)
}

// populateMin is the record size from which a producer writing beyond SoftLimit maps
// the pages in with one system call instead of a page fault each.
const populateMin = 64 << 10

// populate prefaults the pages under n bytes at ring offset off for writing
// (MADV_POPULATE_WRITE, Linux 5.14); an older kernel refuses, and the copy faults them
// in one by one as before.
func (r *Ring) populate(off, n uint64) {
	start := (dataOffset + off) &^ (pageSize - 1)
	_ = unix.Madvise(r.mem[start:dataOffset+off+n], unix.MADV_POPULATE_WRITE)
}
