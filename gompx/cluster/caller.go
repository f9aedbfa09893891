package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrClosed is returned by calls on a Caller after Close or Terminate.
var ErrClosed = errs.New("gompx: cluster pool is closed")

// Result is the outcome of one chunk.
type Result struct {
	Chunk  uint32
	Status Status
	Worker string // "host/pid" of the gompx worker that answered ("" if none did)
	Body   []byte // StatusOK: the pickle the worker made; otherwise a message
}

// Caller submits chunks of tasks and collects their results: the cluster side of a
// Pool. Its methods are safe for concurrent use.
type Caller struct {
	conn *Conn
	id   string
	key  []byte
	cc   jetstream.ConsumeContext
	adv  *nats.Subscription

	mu         sync.Mutex
	jobs       map[uint64]*job
	seqs       map[uint64]chunkRef // stream sequence of each unanswered chunk
	nextJob    uint64
	completed  []uint64      // watched jobs whose results are all in, not yet reported
	completeCh chan struct{} // closed and replaced when completed grows
	err        error         // set when the caller stops (closed, terminated, connection lost)
	duplicates int           // results dropped because the chunk already had one
	forged     int           // results dropped because their MAC did not check
}

type chunkRef struct {
	job   uint64
	chunk uint32
}

// job is a set of chunks whose results come back in order or as they arrive.
type job struct {
	n       int // number of chunks; -1 until SetLength
	results map[uint32]*Result
	taken   map[uint32]bool
	next    uint32 // next chunk in order
	objs    map[uint32]string
	sent    uint32        // one past the highest chunk submitted
	changed chan struct{} // closed and replaced on every arrival
	watched bool
	done    bool
}

// NewCaller makes a pool's caller on c, with a fresh pool id: its result consumer,
// which lives while the caller pulls from it, and its advisory subscription.
func NewCaller(ctx context.Context, c *Conn) (*Caller, error) {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, errs.Errorf("gompx: pool id: %w", err)
	}
	expiry := c.opts.CallerExpiry
	if expiry <= 0 {
		expiry = 30 * time.Second
	}
	k := &Caller{conn: c, id: hex.EncodeToString(raw[:]), key: c.opts.Authkey,
		jobs: map[uint64]*job{}, seqs: map[uint64]chunkRef{}, completeCh: make(chan struct{})}
	cons, err := c.js.CreateConsumer(ctx, ResultsStream, jetstream.ConsumerConfig{
		Durable: resultConsumer(k.id), FilterSubject: resultSubject(k.id),
		AckPolicy: jetstream.AckExplicitPolicy, InactiveThreshold: expiry,
		Replicas: max(c.opts.Replicas, 1),
	})
	if err != nil {
		return nil, errs.Errorf("gompx: result consumer: %w", err)
	}
	adv := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + TasksStream + "." + WorkerConsumer
	if k.adv, err = c.nc.Subscribe(adv, k.onMaxDeliveries); err != nil {
		return nil, errs.Errorf("gompx: subscribe %s: %w", adv, err)
	}
	k.cc, err = cons.Consume(k.onResult, jetstream.PullMaxMessages(256),
		jetstream.ConsumeErrHandler(k.onConsumeError))
	if err != nil {
		k.adv.Unsubscribe()
		return nil, errs.Errorf("gompx: consume results: %w", err)
	}
	return k, nil
}

// ID is the pool's id, the last token of its subjects.
func (k *Caller) ID() string { return k.id }

// NewJob starts a job and returns its id.
func (k *Caller) NewJob() (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return 0, k.err
	}
	k.nextJob++
	k.jobs[k.nextJob] = &job{n: -1, results: map[uint32]*Result{}, taken: map[uint32]bool{},
		objs: map[uint32]string{}, changed: make(chan struct{})}
	return k.nextJob, nil
}

// Submit publishes chunk of job: fn names the function ("module:qualname", for
// messages), body is the pickle the worker runs. It returns once the message is
// handed to the client; a publish that then fails fails the chunk.
func (k *Caller) Submit(ctx context.Context, jobID uint64, chunk uint32, fn string, body []byte) error {
	k.mu.Lock()
	j, err := k.job(jobID)
	if err == nil && chunk >= j.sent {
		j.sent = chunk + 1
	}
	k.mu.Unlock()
	if err != nil {
		return err
	}
	t := &task{Pool: k.id, Job: jobID, Chunk: chunk, Func: fn, Body: body,
		MaxTasks: max(k.conn.opts.MaxTasksPerWorker, 0)}
	if len(body) > InlineLimit {
		t.Obj = t.msgID() + ".task"
		if err := k.conn.putObject(ctx, t.Obj, body); err != nil {
			return err
		}
		t.Body = nil
		k.mu.Lock()
		j.objs[chunk] = t.Obj
		k.mu.Unlock()
	}
	fut, err := k.conn.js.PublishMsgAsync(t.toMsg(k.key, body))
	if err != nil {
		return errs.Errorf("gompx: publish chunk %d of job %d: %w", chunk, jobID, err)
	}
	go k.awaitPubAck(fut, chunkRef{jobID, chunk})
	return nil
}

// awaitPubAck records the chunk's stream sequence, or fails the chunk.
func (k *Caller) awaitPubAck(fut jetstream.PubAckFuture, ref chunkRef) {
	select {
	case ack := <-fut.Ok():
		k.mu.Lock()
		if j := k.jobs[ref.job]; j != nil && j.results[ref.chunk] == nil {
			k.seqs[ack.Sequence] = ref
		}
		k.mu.Unlock()
	case err := <-fut.Err():
		k.deliver(ref, &Result{Chunk: ref.chunk, Status: StatusFail,
			Body: []byte("could not publish the task: " + err.Error())})
	}
}

// SetLength says how many chunks job has, once all are submitted.
func (k *Caller) SetLength(jobID uint64, n int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	j, err := k.job(jobID)
	if err != nil {
		return err
	}
	j.n = n
	k.checkDone(jobID, j)
	return nil
}

// Watch asks NextCompleted to report job once all its results are in.
func (k *Caller) Watch(jobID uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	j, err := k.job(jobID)
	if err != nil {
		return err
	}
	if j.watched {
		return nil
	}
	j.watched = true
	if j.done { // finished before it was watched
		k.report(jobID)
	}
	return nil
}

func (k *Caller) job(id uint64) (*job, error) {
	j := k.jobs[id]
	if j == nil {
		if k.err != nil {
			return nil, k.err
		}
		return nil, errs.Errorf("gompx: no job %d", id)
	}
	return j, nil
}

// checkDone marks j done once every chunk has a result; k.mu held.
func (k *Caller) checkDone(id uint64, j *job) {
	if j.done || j.n < 0 || len(j.results) < j.n {
		return
	}
	j.done = true
	if j.watched {
		k.report(id)
	}
}

// report hands a finished watched job to NextCompleted; k.mu held.
func (k *Caller) report(id uint64) {
	k.completed = append(k.completed, id)
	close(k.completeCh)
	k.completeCh = make(chan struct{})
}

// deliver records r as the chunk's result unless it has one (a duplicate).
func (k *Caller) deliver(ref chunkRef, r *Result) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	j := k.jobs[ref.job]
	if j == nil || j.results[ref.chunk] != nil {
		k.duplicates++
		return false
	}
	j.results[ref.chunk] = r
	if obj := j.objs[ref.chunk]; obj != "" {
		delete(j.objs, ref.chunk)
		go k.conn.deleteObject(context.Background(), obj)
	}
	close(j.changed)
	j.changed = make(chan struct{})
	k.checkDone(ref.job, j)
	return true
}

// onResult handles one result message: verify, fetch the body if stored, deliver, ack.
func (k *Caller) onResult(msg jetstream.Msg) {
	defer msg.Ack()
	r, sum, err := parseResult(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil || r.Pool != k.id {
		k.countForged()
		return
	}
	body := r.Body
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.Obj != "" {
		if body, err = k.conn.getObject(ctx, r.Obj); err != nil {
			k.deliver(chunkRef{r.Job, r.Chunk}, &Result{Chunk: r.Chunk, Status: StatusFail, Worker: r.Worker,
				Body: []byte("the result was lost: " + err.Error())})
			return
		}
	}
	if !hmac.Equal(sum, mac(k.key, "gompx-result", r.fields(), body)) && r.Status != StatusAuth {
		k.countForged() // and its object, if any, is left alone: its name is not to be trusted
		return
	}
	k.deliver(chunkRef{r.Job, r.Chunk}, &Result{Chunk: r.Chunk, Status: r.Status, Worker: r.Worker, Body: body})
	if r.Obj != "" {
		k.conn.deleteObject(ctx, r.Obj)
	}
}

func (k *Caller) countForged() {
	k.mu.Lock()
	k.forged++
	k.mu.Unlock()
}

// onMaxDeliveries fails a chunk of ours that the server gave up delivering (nobody
// answered even its last delivery).
func (k *Caller) onMaxDeliveries(m *nats.Msg) {
	var adv struct {
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries uint64 `json:"deliveries"`
	}
	if json.Unmarshal(m.Data, &adv) != nil {
		return
	}
	k.mu.Lock()
	ref, ok := k.seqs[adv.StreamSeq]
	delete(k.seqs, adv.StreamSeq)
	k.mu.Unlock()
	if !ok {
		return
	}
	k.deliver(ref, &Result{Chunk: ref.chunk, Status: StatusLost, Body: []byte(lostMessage)})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if s, err := k.conn.js.Stream(ctx, TasksStream); err == nil {
			_ = s.DeleteMsg(ctx, adv.StreamSeq)
		}
	}()
}

// onConsumeError stops the caller when the connection is gone for good.
func (k *Caller) onConsumeError(_ jetstream.ConsumeContext, err error) {
	if isClosed(err) || errors.Is(err, jetstream.ErrConsumerDeleted) {
		k.fail(errs.Errorf("gompx: lost the cluster: %w", err))
	}
}

// isClosed reports an error that means the connection is gone for good.
func isClosed(err error) bool {
	return errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrConnectionClosed)
}

// fail stops the caller with err: every waiter returns it.
func (k *Caller) fail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return
	}
	k.err = err
	for _, j := range k.jobs {
		close(j.changed)
		j.changed = make(chan struct{})
	}
	close(k.completeCh)
	k.completeCh = make(chan struct{})
}

// Take returns the next result of job: in chunk order if ordered, else any result
// not yet taken. io.EOF means every result was taken.
func (k *Caller) Take(ctx context.Context, jobID uint64, ordered bool) (*Result, error) {
	for {
		k.mu.Lock()
		j, err := k.job(jobID)
		if err != nil {
			k.mu.Unlock()
			return nil, err
		}
		if r := j.pick(ordered); r != nil {
			k.mu.Unlock()
			return r, nil
		}
		if j.n >= 0 && len(j.taken) >= j.n {
			k.mu.Unlock()
			return nil, io.EOF
		}
		if k.err != nil {
			k.mu.Unlock()
			return nil, k.err
		}
		changed := j.changed
		k.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, errs.Deadline(ctx.Err())
		}
	}
}

// pick takes the next result; k.mu held.
func (j *job) pick(ordered bool) *Result {
	if ordered {
		r := j.results[j.next]
		if r != nil {
			j.taken[j.next] = true
			j.next++
		}
		return r
	}
	for c, r := range j.results {
		if !j.taken[c] {
			j.taken[c] = true
			return r
		}
	}
	return nil
}

// Done reports whether every result of job is in.
func (k *Caller) Done(jobID uint64) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	j, err := k.job(jobID)
	if err != nil {
		return false, err
	}
	return j.done, nil
}

// NextCompleted waits for a watched job whose results are all in and returns its id.
func (k *Caller) NextCompleted(ctx context.Context) (uint64, error) {
	for {
		k.mu.Lock()
		if len(k.completed) > 0 {
			id := k.completed[0]
			k.completed = k.completed[1:]
			k.mu.Unlock()
			return id, nil
		}
		if k.err != nil {
			k.mu.Unlock()
			return 0, k.err
		}
		ch := k.completeCh
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, errs.Deadline(ctx.Err())
		}
	}
}

// DropJob forgets job and its results.
func (k *Caller) DropJob(jobID uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.jobs, jobID)
}

// Stats returns how many results were dropped as duplicates and as unverifiable.
func (k *Caller) Stats() (duplicates, forged int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.duplicates, k.forged
}

// Terminate fails every chunk without a result (StatusLost, "the pool was
// terminated"), then closes the caller.
func (k *Caller) Terminate(ctx context.Context) error {
	k.mu.Lock()
	var refs []chunkRef
	for id, j := range k.jobs {
		for c := uint32(0); int(c) < j.n || c < j.sent; c++ {
			if j.results[c] == nil {
				refs = append(refs, chunkRef{id, c})
			}
		}
	}
	k.mu.Unlock()
	for _, ref := range refs {
		k.deliver(ref, &Result{Chunk: ref.chunk, Status: StatusLost, Body: []byte("the pool was terminated")})
	}
	return k.Close(ctx)
}

// Close stops taking results, deletes the pool's consumer and its unrun tasks, and
// closes the connection. Later calls fail with ErrClosed. It is idempotent.
func (k *Caller) Close(ctx context.Context) error {
	k.mu.Lock()
	if k.err == ErrClosed {
		k.mu.Unlock()
		return nil
	}
	k.mu.Unlock()
	k.fail(ErrClosed)
	k.mu.Lock()
	k.err = ErrClosed
	k.mu.Unlock()
	k.cc.Stop()
	k.adv.Unsubscribe()
	var failed []error
	if err := retry(ctx, func(ctx context.Context) error {
		s, err := k.conn.js.Stream(ctx, TasksStream)
		if err == nil {
			err = s.Purge(ctx, jetstream.WithPurgeSubject(taskSubject(k.id)))
		}
		return err
	}); err != nil {
		failed = append(failed, err)
	}
	if err := retry(ctx, func(ctx context.Context) error {
		err := k.conn.js.DeleteConsumer(ctx, ResultsStream, resultConsumer(k.id))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil
		}
		return err
	}); err != nil {
		failed = append(failed, err)
	}
	if err := errors.Join(failed...); err != nil {
		return errs.Errorf("gompx: close pool %s: %w", k.id, err)
	}
	return nil
}
