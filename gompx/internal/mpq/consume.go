package mpq

import (
	"encoding/binary"
	"math"
	"sync/atomic"
	"time"

	"github.com/gompx/gompx/gompx/internal/cpuload"
	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/failpoint"
)

// Message describes the message a reader is positioned on.
type Message struct {
	Kind byte // the encoding byte the producer gave
	Len  int  // payload length in bytes
}

// reading is the consumer side's view while this process holds the consumer lock.
type reading struct {
	active   bool
	pos      uint64 // next record to read (bytes), ahead of Head until committed
	consumed uint64
	dirty    bool

	// The message at pos, once next found one.
	kind  byte
	flags byte // of its first chunk
	total uint64
	chunk uint64 // payload length of its first chunk
	pid   uint32
}

// Begin takes the consumer lock and waits up to timeout (negative: forever, zero: not
// at all) for a message. On success the caller holds the consumer side: it reads the
// message with Read (and may go on with Next), and must call End. On error (ErrTimeout)
// the lock is already released.
func (r *Ring) Begin(timeout time.Duration) (Message, error) {
	dl := after(timeout)
	recovered, err := r.lockSide(&r.consumerGate, &r.h.ConsumerLock, dl)
	if err != nil {
		return Message{}, err
	}
	h := r.h
	if recovered {
		r.replay(&h.CJournal, &h.Head, &h.Consumed)
		wake(&h.SpaceSeq, &h.SpaceWaiters)
	}
	r.rd = reading{
		active:   true,
		pos:      atomic.LoadUint64(&h.Head),
		consumed: atomic.LoadUint64(&h.Consumed),
	}
	m, err := r.next(dl)
	if err != nil {
		r.End()
		return Message{}, err
	}
	return m, nil
}

// Next positions the reader on the message after the one just read, if one is already
// published; it never waits.
func (r *Ring) Next() (Message, bool) {
	m, err := r.next(deadline{})
	return m, err == nil
}

// next skips skip records and orphaned chunks (the rest of a message whose reader
// died) and stops on the first chunk of a message, waiting per dl.
func (r *Ring) next(dl deadline) (Message, error) {
	rd := &r.rd
	for {
		if err := r.awaitRecord(dl, 0); err != nil {
			return Message{}, err
		}
		n, flags, kind, pid, total, err := r.record(rd.pos)
		if err != nil {
			return Message{}, err
		}
		switch {
		case flags&flagSkip != 0:
			rd.pos += n
		case flags&flagFirst == 0:
			rd.pos += align8(recordHeader + n)
			if flags&flagLast != 0 {
				rd.consumed++ // its first chunk went with a dead reader
			}
		default:
			rd.kind, rd.flags, rd.total, rd.chunk, rd.pid = kind, flags, total, n, pid
			return Message{Kind: kind, Len: int(total)}, nil
		}
		rd.dirty = true
	}
}

// record decodes the record header at stream position pos and checks it fits the ring.
func (r *Ring) record(pos uint64) (n uint64, flags, kind byte, pid uint32, total uint64, err error) {
	off := pos % r.cap
	if off%8 != 0 {
		// Records are 8-byte aligned: only a corrupted Head or skip record lands here.
		return 0, 0, 0, 0, 0, errs.Errorf("%w: misaligned record position %d", ErrBadQueue, pos)
	}
	word := binary.LittleEndian.Uint64(r.data[off:])
	n, flags, kind = word&0xffffffff, byte(word>>32), byte(word>>40)
	if flags&flagSkip != 0 {
		if n != r.cap-off {
			return 0, 0, 0, 0, 0, errs.Errorf("%w: bad skip record at %d", ErrBadQueue, pos)
		}
		return n, flags, 0, 0, 0, nil
	}
	if flags == 0 && n == 0 {
		// No producer writes an empty chunk that is not a message's first.
		return 0, 0, 0, 0, 0, errs.Errorf("%w: empty record at %d", ErrBadQueue, pos)
	}
	if off+align8(recordHeader+n) > r.cap {
		return 0, 0, 0, 0, 0, errs.Errorf("%w: record at %d overruns the ring", ErrBadQueue, pos)
	}
	pid = uint32(binary.LittleEndian.Uint64(r.data[off+8:]))
	if pid == 0 {
		// Every producer writes its pid: a reader waits for a long message's next chunk
		// only while that process lives, and pid 0 would wait forever.
		return 0, 0, 0, 0, 0, errs.Errorf("%w: record at %d names no producer", ErrBadQueue, pos)
	}
	total = binary.LittleEndian.Uint64(r.data[off+16:])
	// The sizes write gives chunks: a message of one chunk is that chunk; a longer one
	// (past maxSingle) is cut into chunkPayload pieces, the last one shorter or equal.
	// Anything else is a corrupted record, whose length a reader must not allocate.
	switch first, last := flags&flagFirst != 0, flags&flagLast != 0; {
	case first && last && total != n,
		first && !last && (n != r.chunkPayload() || total <= r.maxSingle() || total > math.MaxInt64),
		!first && n > r.chunkPayload():
		return 0, 0, 0, 0, 0, errs.Errorf("%w: chunk of %d bytes (flags %#x) of a %d-byte message at %d",
			ErrBadQueue, n, flags, total, pos)
	}
	return n, flags, kind, pid, total, nil
}

// SetReadSpin sets how long this process's consumers poll for a message before they
// sleep (spinFor by default; 0 or less: sleep at once). A consumer that wakes other
// goroutines of its process, on a machine with few CPUs, gains from not spinning: the
// CPU it would hold is the one the woken goroutines and the producers need.
func (r *Ring) SetReadSpin(d time.Duration) {
	if d <= 0 {
		d = -1
	}
	r.readSpin.Store(int64(d))
}

// awaitRecord waits until a record is published at the reader's position. With a
// producer pid (waiting for the next chunk of its message) it gives up with ErrTorn once
// that producer is dead.
func (r *Ring) awaitRecord(dl deadline, producer uint32) error {
	h, rd := r.h, &r.rd
	// Tail is read only when the last value read says there is nothing: the producers
	// write its cache line on every message.
	published := func() bool {
		if rd.pos < r.seenTail {
			return true
		}
		r.seenTail = atomic.LoadUint64(&h.Tail)
		return rd.pos < r.seenTail
	}
	if published() {
		return nil
	}
	r.commit() // let producers use what this reader has finished with
	if dl.try() {
		return ErrTimeout
	}
	spin := spinFor
	if d := r.readSpin.Load(); d != 0 {
		spin = max(time.Duration(d), 0)
	}
	// Spin only while it pays: when the last wait ended within the spin window, the
	// next message is likely as close; after a longer wait, sleep at once (an idle
	// queue costs no CPU), and a wait that turns out short turns spinning back on.
	start := time.Now()
	spinUntil := start
	if !r.spinIdle.Load() && !cpuload.Busy() { // never while every CPU has work
		spinUntil = start.Add(spin)
	}
	defer func() { r.spinIdle.Store(time.Since(start) > spin) }()
	for !published() {
		if producer != 0 && !r.producing(producer) && !published() {
			return ErrTorn
		}
		if time.Now().Before(spinUntil) {
			continue
		}
		// Waiting for a message needs no slices (Interrupt wakes the sleep); waiting for
		// the rest of one checks between slices that its producer lives.
		wait := dl.left()
		if producer != 0 {
			wait = dl.slice()
		}
		if wait == 0 {
			return ErrTimeout
		}
		if err := r.sleepUnless(&h.DataSeq, &h.DataWaiters, wait, published); err != nil {
			return err
		}
		if r.stop.Load() {
			return ErrClosed
		}
		if producer != 0 && !published() && !alive(producer) {
			return ErrTorn
		}
	}
	return nil
}

// producing reports whether process pid holds the producer lock, as a producer does
// from a long message's first chunk to its last. Read after seeing a chunk missing and
// before looking again: a producer publishes its last chunk before it unlocks, so a
// message whose producer holds no lock and whose next chunk is still missing is torn,
// even if that process lives on (a corrupted record naming some live process would
// otherwise be waited for forever).
func (r *Ring) producing(pid uint32) bool {
	return atomic.LoadUint32(&r.h.ProducerLock)&^lockWaiters == pid
}

// Peek copies the start of the current message (at most its first chunk) into dst
// without consuming anything, and returns the byte count.
func (r *Ring) Peek(dst []byte) int {
	off := r.rd.pos%r.cap + recordHeader
	return copy(dst, r.data[off:off+r.rd.chunk])
}

// Read copies the current message into segs (their lengths must add up to its Len)
// and consumes it. For a message longer than the ring, it frees each chunk as soon as it
// is copied and waits for the next; ErrTorn if the producer died before the last one.
func (r *Ring) Read(segs ...[]byte) error {
	rd := &r.rd
	var room uint64
	for _, s := range segs {
		room += uint64(len(s))
	}
	if room != rd.total {
		return errs.Errorf("mpq: read of a %d-byte message into %d bytes", rd.total, room)
	}
	dst := segWriter{segs: segs}
	n, flags := rd.chunk, rd.flags
	for copied := uint64(0); ; {
		if copied+n > rd.total || flags&flagLast != 0 && copied+n != rd.total {
			return errs.Errorf("%w: chunks do not add up to their message at %d", ErrBadQueue, rd.pos)
		}
		off := rd.pos%r.cap + recordHeader
		dst.copyFrom(r.data[off : off+n])
		copied += n
		rd.pos += align8(recordHeader + n)
		rd.dirty = true
		if flags&flagLast != 0 {
			rd.consumed++
			return nil
		}
		var err error
		if n, flags, err = r.nextChunk(); err != nil {
			if err == ErrTorn {
				r.reclaim() // its producer died: count out what it had admitted
			}
			return err
		}
	}
}

// ReadAppend is Read into a slice that grows with the chunks as they arrive: the
// length of a message longer than the ring is the producer's word, written in shared
// memory any process holding the queue can write, and allocating it in full up front
// trusts that word with this process's memory.
func (r *Ring) ReadAppend(dst []byte) ([]byte, error) {
	rd := &r.rd
	n, flags := rd.chunk, rd.flags
	for copied := uint64(0); ; {
		if copied+n > rd.total || flags&flagLast != 0 && copied+n != rd.total {
			return dst, errs.Errorf("%w: chunks do not add up to their message at %d", ErrBadQueue, rd.pos)
		}
		off := rd.pos%r.cap + recordHeader
		dst = append(dst, r.data[off:off+n]...)
		copied += n
		rd.pos += align8(recordHeader + n)
		rd.dirty = true
		if flags&flagLast != 0 {
			rd.consumed++
			return dst, nil
		}
		var err error
		if n, flags, err = r.nextChunk(); err != nil {
			if err == ErrTorn {
				r.reclaim()
			}
			return dst, err
		}
	}
}

// nextChunk waits for the next chunk of the current message, skipping wrap records.
func (r *Ring) nextChunk() (uint64, byte, error) {
	rd := &r.rd
	for {
		if err := r.awaitRecord(deadline{forever: true}, rd.pid); err != nil {
			return 0, 0, err
		}
		n, flags, _, _, _, err := r.record(rd.pos)
		if err != nil {
			return 0, 0, err
		}
		switch {
		case flags&flagSkip != 0:
			rd.pos += n
			rd.dirty = true
		case flags&flagFirst != 0:
			return 0, 0, ErrTorn // a new message: the producer of this one died mid-way
		default:
			return n, flags, nil
		}
	}
}

// End publishes what was consumed and releases the consumer lock.
func (r *Ring) End() {
	if !r.rd.active {
		return
	}
	r.commit()
	r.rd.active = false
	r.unlockSide(&r.consumerGate, &r.h.ConsumerLock)
}

// commit makes the reader's progress visible: producers may reuse the space.
//
// Pages beyond SoftLimit that this commit finishes are punched out of the file, between
// journaling the new Head and storing it. Only those pages: producers may write up to
// the page holding the committed Head, plus the ring, so the pages from there to the new
// Head's page are the ones no producer can reach before Head moves (pages freed by
// earlier commits may already hold new messages). And only once the journal holds the
// new Head: a consumer killed mid-punch otherwise left Head pointing into zeroed pages,
// which the next reader took for a corrupt queue ("empty record"). With the journal
// first, the successor replays it and moves on; the dead consumer loses what it read.
func (r *Ring) commit() {
	rd, h := &r.rd, r.h
	if !rd.dirty {
		return
	}
	failpoint.Hit("mpq/consume-read")
	writeJournal(&h.CJournal, rd.pos, rd.consumed)
	failpoint.Hit("mpq/consume-journal")
	if h.SoftLimit < r.cap {
		from, upto := atomic.LoadUint64(&h.Head)&^(pageSize-1), rd.pos&^(pageSize-1)
		if upto > from {
			r.punch(from, upto)
			if testHookAfterPunch != nil {
				testHookAfterPunch()
			}
		}
	}
	finishJournal(&h.CJournal, &h.Head, &h.Consumed, rd.pos, rd.consumed)
	failpoint.Hit("mpq/consume-applied")
	rd.dirty = false
	wake(&h.SpaceSeq, &h.SpaceWaiters)
}

// testHookAfterPunch, set only by tests, runs between the punch and the commit.
var testHookAfterPunch func()

// punch frees the pages of stream positions [from, to) that lie beyond SoftLimit.
func (r *Ring) punch(from, to uint64) {
	soft := r.h.SoftLimit
	for from < to {
		off := from % r.cap
		n := min(to-from, r.cap-off)
		if end := off + n; end > soft {
			start := max(off, soft)
			// Best effort: a kernel without hole punching keeps the pages, nothing breaks.
			_ = unix.Fallocate(r.seg.Fd(), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE,
				int64(dataOffset+start), int64(end-start))
		}
		from += n
	}
}

// segWriter copies into the concatenation of segs in pieces.
type segWriter struct {
	segs [][]byte
	i, j int
}

func (s *segWriter) copyFrom(src []byte) {
	for len(src) > 0 {
		n := copy(s.segs[s.i][s.j:], src)
		src = src[n:]
		s.j += n
		if s.j == len(s.segs[s.i]) {
			s.i, s.j = s.i+1, 0
		}
	}
}
