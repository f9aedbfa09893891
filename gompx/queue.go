package gompx

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/mpq"
	"github.com/gompx/gompx/gompx/internal/qread"
	"github.com/gompx/gompx/pickle"
)

// MessageKind says how a queue message's payload is encoded. Go and Python producers
// and consumers agree on these, so either end of a queue may be either language.
type MessageKind byte

const (
	// KindPickle is a pickle of any protocol; Go reads it with the pickle package.
	KindPickle MessageKind = 0
	// KindBytes is raw bytes: Python's get returns a bytes object, Go's Get a []byte.
	KindBytes MessageKind = 1
	// KindPickleBuffers is a protocol 5 pickle with out-of-band buffers:
	// uint32 count, then count+1 uint64 lengths (the pickle's, then each buffer's),
	// then the pickle, then the buffers, all little-endian and unpadded.
	KindPickleBuffers MessageKind = 2
)

// QueueOptions configure NewQueue.
type QueueOptions struct {
	// MaxSize bounds the number of queued messages (0: unbounded); Put waits only for
	// that bound. A message that does not fit in the ring at once waits in this
	// process's memory until a goroutine can move it in, as Python's Queue does with its
	// feeder thread: Flush waits for those.
	MaxSize int
	// Capacity is the size of the shared ring in bytes (0: 1 GiB). The ring is sparse:
	// it holds memory for unread messages only, plus a few hot megabytes.
	Capacity int64
}

// Queue errors. ErrQueueClosed is also what operations in flight return when Close is
// called by another goroutine.
var (
	// ErrQueueFull reports a put on a queue holding MaxSize messages that did not get
	// room in time (Python: queue.Full).
	ErrQueueFull = errs.New("queue is full")
	// ErrQueueEmpty reports a get that found no message in time (Python: queue.Empty).
	ErrQueueEmpty = errs.New("queue is empty")
	// ErrQueueClosed reports an operation on a queue after Close.
	ErrQueueClosed = errs.New("queue is closed")
	// ErrTaskDone reports TaskDone called more times than messages were put.
	ErrTaskDone = mpq.ErrTooManyTaskDone
	// ErrMessageTorn reports a message abandoned between its chunks by a producer that
	// died; it is gone, and the next get returns the message after it.
	ErrMessageTorn = mpq.ErrTorn
)

// Queue is a multi-producer multi-consumer queue of messages in shared memory, shared by
// every process that holds its file descriptor. It is safe for concurrent use.
type Queue struct {
	ring *mpq.Ring

	// users counts calls in flight (and a running flusher); the closed bit refuses new
	// ones. The mapping is released when the last one leaves a closed queue.
	users    atomic.Int64
	released sync.Once

	// used is set by this process's first put: CPython's Queue closes its pipe on
	// close() only once a put started its feeder thread, and Python's empty() shows it.
	used atomic.Bool

	// reading is set while a beginRead hold is open, so that endRead runs once per hold
	// however often it is called (Python calls it again on its error paths).
	reading atomic.Bool

	mu       sync.Mutex
	pending  []pendingMessage // admitted, waiting for room in the ring, in put order
	inFlight bool             // the flusher is writing the message it took from pending
	flushing bool
	flushed  *sync.Cond
}

const queueClosedBit = 1 << 62

type pendingMessage struct {
	kind    MessageKind
	payload []byte
}

// NewQueue creates a queue. Pass Fd to other processes (e.g. in Cmd.Files); they attach
// with OpenQueue.
func NewQueue(opts QueueOptions) (*Queue, error) {
	ring, err := mpq.Create(mpq.Options{Capacity: opts.Capacity, MaxSize: int64(opts.MaxSize)})
	if err != nil {
		return nil, errs.Errorf("new queue: %w", err)
	}
	return newQueue(ring), nil
}

// OpenQueue attaches to the queue behind fd, a descriptor of a queue made by NewQueue
// in this or another process. The Queue owns fd from now on.
func OpenQueue(fd int) (*Queue, error) {
	ring, err := mpq.Open(fd)
	if err != nil {
		return nil, errs.Errorf("open queue: %w", err)
	}
	return newQueue(ring), nil
}

func init() {
	qread.Of = func(q any) qread.Queue { return (*queueReader)(q.(*Queue)) }
}

// queueReader is a Queue's reading side for package qread (taskpool and the Python
// facade read in place; the Go API reads with Get and Receive).
type queueReader Queue

func (r *queueReader) BeginRead(timeout time.Duration) (uint8, int, error) {
	kind, n, err := (*Queue)(r).beginRead(timeout)
	return uint8(kind), n, err
}

func (r *queueReader) PeekMessage(dst []byte) int      { return (*Queue)(r).peekMessage(dst) }
func (r *queueReader) Read(dst []byte) error           { return (*Queue)(r).readMessage(dst) }
func (r *queueReader) ReadMessage(dst ...[]byte) error { return (*Queue)(r).readMessage(dst...) }
func (r *queueReader) EndRead()                        { (*Queue)(r).endRead() }
func (r *queueReader) SetReadSpin(d time.Duration)     { (*Queue)(r).setReadSpin(d) }
func (r *queueReader) AbandonPending()                 { (*Queue)(r).abandonPending() }
func (r *queueReader) NextMessage() (uint8, int, bool) {
	kind, n, ok := (*Queue)(r).nextMessage()
	return uint8(kind), n, ok
}

func newQueue(ring *mpq.Ring) *Queue {
	q := &Queue{ring: ring}
	q.flushed = sync.NewCond(&q.mu)
	return q
}

// setReadSpin sets how long gets of this process poll an empty queue before they sleep
// (50 µs by default; 0: sleep at once).
func (q *Queue) setReadSpin(d time.Duration) { q.ring.SetReadSpin(d) }

// Fd is the queue's file descriptor (close-on-exec), to hand to another process.
func (q *Queue) Fd() int { return q.ring.Fd() }

// MaxSize is the bound on queued messages, 0 for unbounded.
func (q *Queue) MaxSize() int { return int(q.ring.MaxSize()) }

// Len is the number of messages in the queue, across all processes, not counting this
// process's messages still waiting for room.
func (q *Queue) Len() int {
	if !q.enter() {
		return 0
	}
	defer q.leave()
	return int(q.ring.Len())
}

func (q *Queue) enter() bool {
	for {
		n := q.users.Load()
		if n&queueClosedBit != 0 {
			return false
		}
		if q.users.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (q *Queue) leave() {
	if q.users.Add(-1) == queueClosedBit {
		q.released.Do(func() { q.ring.Close() })
	}
}

// Close releases this process's hold on the queue once its pending messages are in
// the queue; waits in progress in other goroutines return ErrQueueClosed. Other
// processes are unaffected. Closing twice is harmless.
func (q *Queue) Close() error {
	for {
		n := q.users.Load()
		if n&queueClosedBit != 0 {
			return nil
		}
		// Counted as a user until the wake-ups below are done: Interrupt writes to the
		// mapping, which the last user to leave unmaps.
		if q.users.CompareAndSwap(n, (n+1)|queueClosedBit) {
			break
		}
	}
	q.mu.Lock()
	flushing := q.flushing
	q.mu.Unlock()
	if !flushing {
		q.ring.Interrupt() // the flusher, if any, must finish: it holds messages
	}
	q.leave()
	return nil
}

// timeoutOf turns a context into a wait limit for one slice of waiting.
func sliceOf(ctx context.Context) time.Duration {
	const slice = 20 * time.Millisecond
	if d, ok := ctx.Deadline(); ok {
		return min(max(time.Until(d), 0), slice)
	}
	return slice
}

// Send puts one raw message whose payload is the concatenation of payload. A bounded
// queue admits it once it holds fewer than MaxSize messages, waiting up to timeout
// (negative: forever) for that, or ErrQueueFull. Admitted, the message never waits for
// room in the ring: if there is none, this process keeps a copy and a goroutine moves it
// in when consumers make room, as Python's Queue does with its feeder thread.
func (q *Queue) Send(kind MessageKind, timeout time.Duration, payload ...[]byte) error {
	if !q.enter() {
		return ErrQueueClosed
	}
	defer q.leave()
	q.markUsed()
	if _, err := q.ring.Admit(1, timeout); err != nil {
		return ringErr(err, ErrQueueFull)
	}
	if q.sendNow(kind, payload) {
		return nil
	}
	var n int
	for _, p := range payload {
		n += len(p)
	}
	msg := pendingMessage{kind: kind, payload: make([]byte, 0, n)}
	for _, p := range payload {
		msg.payload = append(msg.payload, p...)
	}
	q.mu.Lock()
	q.pending = append(q.pending, msg)
	q.noteBacklog()
	q.startFlusher()
	q.mu.Unlock()
	return nil
}

func (q *Queue) markUsed() {
	if !q.used.Load() { // a load per put; the store once
		q.used.Store(true)
	}
}

// Used reports whether this process has put into the queue through q.
func (q *Queue) Used() bool { return q.used.Load() }

// sendNow writes an admitted message into the ring if that needs no waiting and keeps
// this process's messages in order.
func (q *Queue) sendNow(kind MessageKind, payload [][]byte) bool {
	var n int
	for _, p := range payload {
		n += len(p)
	}
	if n > q.ring.MaxSingle() {
		return false // it would stream, waiting for consumers
	}
	q.mu.Lock()
	behind := len(q.pending) > 0 || q.inFlight // keep behind what the flusher still holds
	q.mu.Unlock()
	return !behind && q.ring.PutAdmitted(byte(kind), 0, payload...) == nil
}

// SendBatch puts each of msgs as one message of the given kind, in order, with one
// acquisition of the queue. It returns how many went in: all of them, unless a bounded
// queue stayed full past timeout (then ErrQueueFull).
func (q *Queue) SendBatch(kind MessageKind, timeout time.Duration, msgs [][]byte) (int, error) {
	if !q.enter() {
		return 0, ErrQueueClosed
	}
	defer q.leave()
	q.markUsed()
	if len(msgs) == 0 {
		return 0, nil
	}
	// A bounded queue may let part of them in: those go in before waiting for room for
	// the rest, since they hold room no consumer can free until they are written.
	sent := 0
	for sent < len(msgs) {
		admitted, err := q.ring.Admit(len(msgs)-sent, timeout)
		if err != nil {
			return sent, ringErr(err, ErrQueueFull)
		}
		q.sendAdmitted(kind, msgs[sent:sent+admitted])
		sent += admitted
	}
	return sent, nil
}

// sendAdmitted writes admitted messages, behind those the flusher still holds; what does
// not fit now goes to the flusher.
func (q *Queue) sendAdmitted(kind MessageKind, msgs [][]byte) {
	q.mu.Lock()
	behind := len(q.pending) > 0 || q.inFlight // keep behind what the flusher still holds
	q.mu.Unlock()
	done := 0
	if !behind {
		done, _ = q.ring.PutBatchAdmitted(byte(kind), 0, msgs)
	}
	if done < len(msgs) {
		q.mu.Lock()
		for _, m := range msgs[done:] {
			q.pending = append(q.pending, pendingMessage{kind: kind, payload: append([]byte(nil), m...)})
		}
		q.noteBacklog()
		q.startFlusher()
		q.mu.Unlock()
	}
}

// startFlusher runs the goroutine that moves pending messages into the queue as room
// appears. Called with q.mu held.
func (q *Queue) startFlusher() {
	if q.flushing {
		return
	}
	q.flushing = true
	q.users.Add(1) // the flusher keeps the mapping alive, even past Close
	go q.flush()
}

func (q *Queue) flush() {
	defer q.leave()
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.flushing = false
			q.noteBacklog()
			q.flushed.Broadcast()
			q.mu.Unlock()
			return
		}
		m := q.pending[0]
		q.pending[0] = pendingMessage{}
		q.pending = q.pending[1:]
		q.inFlight = true
		q.mu.Unlock()
		err := q.ring.PutAdmitted(byte(m.kind), -1, m.payload)
		q.mu.Lock()
		q.inFlight = false
		q.mu.Unlock()
		if err != nil {
			// Interrupted (abandonPending): this one is dropped too.
			q.ring.Unadmit(1)
		}
	}
}

// noteBacklog tells the ring whether this process holds messages waiting for room, so
// that a fast path outside Go (QueueView) does not overtake them. Called with q.mu held.
func (q *Queue) noteBacklog() {
	q.ring.SetBacklog(len(q.pending) > 0 || q.inFlight)
}

// Pending is the number of this process's messages waiting for room in the queue.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.pending)
	if q.inFlight {
		n++
	}
	return n
}

// Flush waits up to timeout (negative: forever) until this process's pending messages
// are in the queue, and reports whether they are (Python: join_thread).
func (q *Queue) Flush(timeout time.Duration) bool {
	// The deadline is set before the timer: set after, it could fall after the timer's
	// wake-up, and the loop would sleep again with nothing left to wake it.
	deadline := time.Now().Add(timeout)
	var timer *time.Timer
	if timeout >= 0 {
		timer = time.AfterFunc(timeout, func() {
			q.mu.Lock()
			q.flushed.Broadcast()
			q.mu.Unlock()
		})
		defer timer.Stop()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.flushing {
		if timeout >= 0 && !time.Now().Before(deadline) {
			return false
		}
		q.flushed.Wait()
	}
	return true
}

// abandonPending drops this process's pending messages and stops waiting for room
// (Python: cancel_join_thread then exit). Messages already in the queue stay.
func (q *Queue) abandonPending() {
	q.mu.Lock()
	if n := len(q.pending); n > 0 {
		q.ring.Unadmit(n)
	}
	q.pending = nil
	q.noteBacklog()
	if q.flushing {
		// Under q.mu: the flusher, which keeps the mapping alive, has not left yet.
		q.ring.Interrupt()
	}
	q.mu.Unlock()
}

func ringErr(err, timeout error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mpq.ErrTimeout):
		return timeout
	case errors.Is(err, mpq.ErrClosed):
		return ErrQueueClosed
	}
	return errs.Errorf("queue: %w", err)
}

// Put pickles v (protocol 5) and puts it, waiting for room in a bounded queue until ctx
// is done: then an error wrapping ErrQueueFull and ErrTimeout (ctx's deadline) or
// context.Canceled. A []byte goes as KindBytes.
func (q *Queue) Put(ctx context.Context, v any) error {
	kind, data, err := encodeMessage(v)
	if err != nil {
		return err
	}
	for {
		err := q.Send(kind, sliceOf(ctx), data)
		if !errors.Is(err, ErrQueueFull) {
			return err
		}
		if end := ctxEnd(ctx); end != nil {
			return errs.Errorf("queue put: %w: %w", ErrQueueFull, end)
		}
	}
}

// TryPut puts v if there is room now; ErrQueueFull otherwise.
func (q *Queue) TryPut(v any) error {
	kind, data, err := encodeMessage(v)
	if err != nil {
		return err
	}
	return q.Send(kind, 0, data)
}

func encodeMessage(v any) (MessageKind, []byte, error) {
	if b, ok := v.([]byte); ok {
		return KindBytes, b, nil
	}
	data, err := pickle.MarshalProtocol(v, 5)
	if err != nil {
		return 0, nil, errs.Errorf("queue put: %w", err)
	}
	return KindPickle, data, nil
}

// Get waits until ctx is done for a message and returns its value: a []byte for
// KindBytes, the unpickled value otherwise (see the pickle package for the types). When
// ctx is done first the error wraps ErrQueueEmpty and ErrTimeout (ctx's deadline) or
// context.Canceled.
func (q *Queue) Get(ctx context.Context) (any, error) {
	for {
		kind, data, err := q.Receive(sliceOf(ctx))
		if err == nil {
			return decodeMessage(kind, data)
		}
		if !errors.Is(err, ErrQueueEmpty) && !errors.Is(err, ErrMessageTorn) {
			return nil, err
		}
		if end := ctxEnd(ctx); end != nil {
			return nil, errs.Errorf("queue get: %w: %w", ErrQueueEmpty, end)
		}
	}
}

// TryGet returns the next message's value if one is there now; ErrQueueEmpty otherwise.
func (q *Queue) TryGet() (any, error) {
	kind, data, err := q.Receive(0)
	if err != nil {
		return nil, err
	}
	return decodeMessage(kind, data)
}

// Receive waits up to timeout (negative: forever) for the next raw message.
func (q *Queue) Receive(timeout time.Duration) (MessageKind, []byte, error) {
	kind, n, err := q.beginRead(timeout)
	if err != nil {
		return 0, nil, err
	}
	defer q.endRead()
	if n > q.ring.MaxSingle() { // streamed in chunks: memory follows the chunks read
		data, err := q.ring.ReadAppend(make([]byte, 0, q.ring.MaxSingle()))
		if errors.Is(err, mpq.ErrTorn) {
			return 0, nil, ErrMessageTorn
		}
		return kind, data, ringErr(err, ErrQueueEmpty)
	}
	data := make([]byte, n)
	return kind, data, q.readMessage(data)
}

// beginRead waits up to timeout (negative: forever) for a message and takes the
// consumer side of the queue for this caller, who reads the message with readMessage
// (after peekMessage, and before nextMessage, as it likes) and must call endRead. This is
// the zero-copy path: the caller chooses where the bytes land.
func (q *Queue) beginRead(timeout time.Duration) (MessageKind, int, error) {
	if !q.enter() {
		return 0, 0, ErrQueueClosed
	}
	m, err := q.ring.Begin(timeout)
	if err != nil {
		q.leave()
		return 0, 0, ringErr(err, ErrQueueEmpty)
	}
	q.reading.Store(true)
	return MessageKind(m.Kind), m.Len, nil
}

// peekMessage copies the start of the current message into dst, consuming nothing.
func (q *Queue) peekMessage(dst []byte) int { return q.ring.Peek(dst) }

// readMessage copies the current message into dst (lengths adding up to its length) and
// consumes it. ErrMessageTorn: its producer died mid-way and it is gone.
func (q *Queue) readMessage(dst ...[]byte) error {
	err := q.ring.Read(dst...)
	if errors.Is(err, mpq.ErrTorn) {
		return ErrMessageTorn
	}
	return ringErr(err, ErrQueueEmpty)
}

// nextMessage moves to the message after the one just read if it is already in the
// queue, without waiting.
func (q *Queue) nextMessage() (MessageKind, int, bool) {
	m, ok := q.ring.Next()
	return MessageKind(m.Kind), m.Len, ok
}

// endRead releases the consumer side taken by beginRead. Calling it again, or without
// a beginRead, does nothing.
func (q *Queue) endRead() {
	if !q.reading.CompareAndSwap(true, false) {
		return
	}
	q.ring.End()
	q.leave()
}

func decodeMessage(kind MessageKind, data []byte) (any, error) {
	switch kind {
	case KindBytes:
		return data, nil
	case KindPickle:
		return pickle.Unmarshal(data)
	case KindPickleBuffers:
		pickled, buffers, err := SplitPickleBuffers(data)
		if err != nil {
			return nil, err
		}
		return pickle.UnmarshalOptions(pickled, &pickle.DecoderOptions{Buffers: buffers})
	}
	return nil, errs.Errorf("queue get: unknown message kind %d", kind)
}

// SplitPickleBuffers splits a KindPickleBuffers payload into the pickle and its buffers.
func SplitPickleBuffers(data []byte) ([]byte, [][]byte, error) {
	bad := errs.Errorf("queue get: malformed pickle-with-buffers message of %d bytes", len(data))
	if len(data) < 4 {
		return nil, nil, bad
	}
	count := int(binary.LittleEndian.Uint32(data))
	table := 4 + 8*(count+1)
	if count > len(data) || table > len(data) {
		return nil, nil, bad
	}
	parts := make([][]byte, count+1)
	at := table
	for i := range parts {
		n := binary.LittleEndian.Uint64(data[4+8*i:])
		if n > uint64(len(data)-at) {
			return nil, nil, bad
		}
		parts[i] = data[at : at+int(n)]
		at += int(n)
	}
	return parts[0], parts[1:], nil
}

// TaskDone marks one message taken from a joinable queue as processed.
func (q *Queue) TaskDone() error {
	if !q.enter() {
		return ErrQueueClosed
	}
	defer q.leave()
	return q.ring.TaskDone()
}

// JoinContext waits until every message put has been marked done, or until ctx is done:
// then an error wrapping ErrTimeout (ctx's deadline) or context.Canceled.
func (q *Queue) JoinContext(ctx context.Context) error {
	for {
		done, err := q.Join(sliceOf(ctx))
		if err != nil || done {
			return err
		}
		if end := ctxEnd(ctx); end != nil {
			return errs.Errorf("queue join: %w", end)
		}
	}
}

// Join waits up to timeout (negative: forever) until every message put has been marked
// done, and reports whether that happened. It is JoinContext for the Python facade.
func (q *Queue) Join(timeout time.Duration) (bool, error) {
	if !q.enter() {
		return false, ErrQueueClosed
	}
	defer q.leave()
	err := q.ring.Join(timeout)
	if errors.Is(err, mpq.ErrTimeout) {
		return false, nil
	}
	return err == nil, ringErr(err, ErrQueueEmpty)
}
