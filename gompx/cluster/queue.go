package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of a named queue's objects (docs/design.md, "Past one machine"): the stream
// GOMPXQ_<name> on subject gompx.q.<name>, its one durable consumer "get", and, for a
// joinable queue, the key <name> of the KV bucket GOMPX_QUEUES (unfinished tasks).
const (
	queueStreamPrefix  = "GOMPXQ_"
	queueSubjectPrefix = "gompx.q."
	queueConsumer      = "get"
	QueueBucket        = "GOMPX_QUEUES"
	metaJoinable       = "gompx-joinable"
	hdrQueueObj        = "Gompx-Obj"
)

// Errors of named queues; the Python layer maps them to queue.Empty, queue.Full and
// ValueError.
var (
	ErrEmpty         = errs.New("gompx: queue is empty")
	ErrFull          = errs.New("gompx: queue is full")
	ErrTaskDone      = errs.New("gompx: task_done() called too many times")
	ErrQueueName     = errs.New("gompx: bad queue name")
	ErrQueueMismatch = errs.New("gompx: the queue exists with other settings")
)

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// QueueOptions say which queue to open.
type QueueOptions struct {
	// Name is the queue's name: 1 to 64 of A-Z a-z 0-9 _ -. Every process that opens a
	// name reaches the same queue.
	Name string
	// MaxSize bounds the number of items in the queue (0: unbounded). A queue that
	// exists already must have been made with the same bound.
	MaxSize int
	// Joinable keeps the count of unfinished tasks (TaskDone, Join). A queue that
	// exists already must be of the same kind.
	Joinable bool
}

// Queue is a named FIFO queue on a JetStream work-queue stream, shared by every
// process that opens its name on the cluster. Items are bytes (Python pickles); each
// carries an HMAC keyed with the connection's authkey, checked before it is handed
// out. An item is removed when a Get takes it (acknowledged at once): a getter that
// dies between the server's delivery and that acknowledgement gets it delivered again
// to another getter after the ack wait (30 s), so an item is taken at least once. Its
// methods are safe for concurrent use.
type Queue struct {
	conn    *Conn
	opts    QueueOptions
	stream  jetstream.Stream
	cons    jetstream.Consumer
	kv      jetstream.KeyValue // joinable queues only
	subject string

	// The watch of the unfinished count, started by the first Join and kept: a
	// Join cut in short slices (Python's Ctrl-C checks) must not pay a new watch
	// (a consumer made on the server) each time.
	watchMu   sync.Mutex
	watch     jetstream.KeyWatcher
	watchErr  error
	count     int64
	counted   bool          // the watch has reported the current value
	countedCh chan struct{} // closed and replaced on every report
}

func queueStream(name string) string { return queueStreamPrefix + name }

// OpenQueue opens the named queue, creating it if it does not exist. ctx bounds the
// opening.
func OpenQueue(ctx context.Context, c *Conn, o QueueOptions) (*Queue, error) {
	if !queueNameRE.MatchString(o.Name) {
		return nil, errs.Errorf("%w %q: use 1 to 64 of A-Z a-z 0-9 _ -", ErrQueueName, o.Name)
	}
	if o.MaxSize < 0 {
		o.MaxSize = 0
	}
	q := &Queue{conn: c, opts: o, subject: queueSubjectPrefix + o.Name}
	if err := retry(ctx, q.open); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *Queue) open(ctx context.Context) error {
	replicas := max(q.conn.opts.Replicas, 1)
	maxMsgs := int64(-1)
	if q.opts.MaxSize > 0 {
		maxMsgs = int64(q.opts.MaxSize)
	}
	cfg := jetstream.StreamConfig{
		Name: queueStream(q.opts.Name), Subjects: []string{q.subject}, Retention: jetstream.WorkQueuePolicy,
		MaxMsgs: maxMsgs, Discard: jetstream.DiscardNew, Duplicates: 2 * time.Minute,
		Replicas: replicas, Storage: jetstream.FileStorage,
		Metadata: map[string]string{metaJoinable: strconv.FormatBool(q.opts.Joinable)},
	}
	s, err := q.conn.js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = q.conn.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = q.conn.js.Stream(ctx, cfg.Name)
		}
	}
	if err != nil {
		return errs.Errorf("gompx: queue %s: %w", q.opts.Name, err)
	}
	got := s.CachedInfo().Config
	if got.MaxMsgs != maxMsgs && !(got.MaxMsgs <= 0 && maxMsgs <= 0) {
		return errs.Errorf("%w: queue %s has maxsize %d, not %d", ErrQueueMismatch, q.opts.Name,
			max(got.MaxMsgs, 0), q.opts.MaxSize)
	}
	if got.Metadata[metaJoinable] != cfg.Metadata[metaJoinable] {
		kind := map[bool]string{true: "a JoinableQueue", false: "a Queue"}
		return errs.Errorf("%w: queue %s is %s, not %s", ErrQueueMismatch, q.opts.Name,
			kind[got.Metadata[metaJoinable] == "true"], kind[q.opts.Joinable])
	}
	q.stream = s
	// The stream's replicas, not this opener's: a work-queue stream's consumer must
	// have the same, whoever made it.
	replicas = max(got.Replicas, 1)
	cons, err := s.Consumer(ctx, queueConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: queueConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
			MaxAckPending: -1, Replicas: replicas,
		})
	}
	if err != nil {
		return errs.Errorf("gompx: queue %s: consumer: %w", q.opts.Name, err)
	}
	q.cons = cons
	if q.opts.Joinable {
		kv, err := q.conn.js.KeyValue(ctx, QueueBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = q.conn.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: QueueBucket,
				History: 1, Replicas: replicas, Storage: jetstream.FileStorage})
			if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				kv, err = q.conn.js.KeyValue(ctx, QueueBucket)
			}
		}
		if err != nil {
			return errs.Errorf("gompx: queue %s: counter bucket: %w", q.opts.Name, err)
		}
		q.kv = kv
	}
	return nil
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.opts.Name }

// MaxSize is the queue's bound (0: unbounded).
func (q *Queue) MaxSize() int { return q.opts.MaxSize }

// Joinable reports whether the queue counts unfinished tasks.
func (q *Queue) Joinable() bool { return q.opts.Joinable }

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// message makes an item's message: the body inline, or in the object store when it
// is larger than InlineLimit.
func (q *Queue) message(ctx context.Context, body []byte) (*nats.Msg, error) {
	id := randomID()
	m := nats.NewMsg(q.subject)
	m.Header.Set(hdrMsgID, id)
	obj := ""
	if len(body) > InlineLimit {
		obj = "q." + q.opts.Name + "." + id
		if err := q.conn.putObject(ctx, obj, body); err != nil {
			return nil, err
		}
		m.Header.Set(hdrQueueObj, obj)
	} else {
		m.Data = body
	}
	m.Header.Set(hdrMac, hex.EncodeToString(mac(q.conn.opts.Authkey, "gompx-queue", []string{q.opts.Name, obj}, body)))
	return m, nil
}

// isFull reports the store error of a stream at its MaxMsgs with DiscardNew.
func isFull(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && strings.Contains(api.Description, "maximum messages exceeded")
}

// TryPut adds body to the queue without waiting: ErrFull if the queue is at its bound.
func (q *Queue) TryPut(ctx context.Context, body []byte) error {
	return q.putMany(ctx, [][]byte{body})
}

// Put adds body to the queue, waiting while it is full until ctx is done (then
// ErrFull).
func (q *Queue) Put(ctx context.Context, body []byte) error {
	return q.waitRoom(ctx, func() error { return q.putMany(ctx, [][]byte{body}) })
}

// PutMany adds every body, in order, as one batch of publishes; while the queue is
// full it waits as Put does. Items already added stay when it fails; it returns how
// many were added.
func (q *Queue) PutMany(ctx context.Context, bodies [][]byte) (int, error) {
	done := 0
	err := q.waitRoom(ctx, func() error {
		for done < len(bodies) {
			n := len(bodies) - done
			if q.opts.MaxSize > 0 {
				n = 1 // a bounded queue is filled one item at a time, so Full is exact
			}
			if err := q.putMany(ctx, bodies[done:done+n]); err != nil {
				return err
			}
			done += n
		}
		return nil
	})
	return done, err
}

// waitRoom calls put until it does not fail with ErrFull or ctx is done.
func (q *Queue) waitRoom(ctx context.Context, put func() error) error {
	wait := time.Millisecond
	for {
		err := put()
		if !errors.Is(err, ErrFull) {
			return err
		}
		select {
		case <-ctx.Done():
			return ErrFull
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// putMany publishes bodies; the unfinished count of a joinable queue goes up first,
// so that Join never sees zero while they are on their way.
func (q *Queue) putMany(ctx context.Context, bodies [][]byte) error {
	if len(bodies) == 0 {
		return nil
	}
	// ctx bounds the wait for room, not a publish under way: one cut short could
	// leave an item stored that its caller thinks was not (a timeout, not Full).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if q.kv != nil {
		if _, err := q.addUnfinished(ctx, int64(len(bodies))); err != nil {
			return err
		}
	}
	sent := 0
	var err error
	if len(bodies) == 1 {
		var m *nats.Msg
		if m, err = q.message(ctx, bodies[0]); err == nil {
			_, err = q.conn.js.PublishMsg(ctx, m)
		}
		if err == nil {
			sent = 1
		}
	} else {
		sent, err = q.publishAsync(ctx, bodies)
	}
	if err != nil && q.kv != nil && sent < len(bodies) {
		q.addUnfinished(ctx, -int64(len(bodies)-sent))
	}
	if isFull(err) {
		return ErrFull
	}
	if err != nil {
		return errs.Errorf("gompx: queue %s: put: %w", q.opts.Name, err)
	}
	return nil
}

// publishAsync publishes bodies without waiting for each ack; it returns how many the
// stream stored before the first failure.
func (q *Queue) publishAsync(ctx context.Context, bodies [][]byte) (int, error) {
	futs := make([]jetstream.PubAckFuture, 0, len(bodies))
	var err error
	for _, b := range bodies {
		var m *nats.Msg
		if m, err = q.message(ctx, b); err != nil {
			break
		}
		f, perr := q.conn.js.PublishMsgAsync(m)
		if perr != nil {
			err = perr
			break
		}
		futs = append(futs, f)
	}
	sent := 0
	for _, f := range futs {
		select {
		case <-f.Ok():
			if err == nil {
				sent++
			}
		case e := <-f.Err():
			if err == nil {
				err = e
			}
		case <-ctx.Done():
			if err == nil {
				err = errs.Context(ctx)
			}
		}
	}
	return sent, err
}

// TryGet takes the first item without waiting: ErrEmpty if there is none.
func (q *Queue) TryGet(ctx context.Context) ([]byte, error) {
	items, err := q.get(ctx, 1, 0)
	if err != nil {
		return nil, err
	}
	return items[0], nil
}

// Get takes the first item, waiting for one until ctx is done (then ErrEmpty).
func (q *Queue) Get(ctx context.Context) ([]byte, error) {
	items, err := q.GetMany(ctx, 1)
	if err != nil {
		return nil, err
	}
	return items[0], nil
}

// GetMany takes up to n items, waiting for the first until ctx is done (then
// ErrEmpty); it returns those that are there once one is.
func (q *Queue) GetMany(ctx context.Context, n int) ([][]byte, error) {
	for {
		wait := time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if wait <= 0 {
			return q.get(ctx, n, 0)
		}
		items, err := q.get(ctx, n, wait)
		if !errors.Is(err, ErrEmpty) {
			return items, err
		}
		if ctx.Err() != nil {
			return nil, ErrEmpty
		}
	}
}

// get pulls up to n items, waiting at most wait for them (0: not at all), acks
// them and checks their HMACs. An item that fails its check is dropped; ErrBadMAC
// reports it when no good item came with it.
func (q *Queue) get(ctx context.Context, n int, wait time.Duration) ([][]byte, error) {
	var batch jetstream.MessageBatch
	var err error
	if wait <= 0 {
		batch, err = q.cons.FetchNoWait(n)
	} else {
		batch, err = q.cons.Fetch(n, jetstream.FetchMaxWait(wait))
	}
	if err != nil {
		return nil, errs.Errorf("gompx: queue %s: get: %w", q.opts.Name, err)
	}
	var items [][]byte
	var bad error
	for m := range batch.Messages() {
		body, err := q.take(ctx, m)
		if err != nil {
			bad = err
			continue
		}
		items = append(items, body)
	}
	if len(items) > 0 {
		return items, nil
	}
	if bad != nil {
		return nil, bad
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return nil, errs.Errorf("gompx: queue %s: get: %w", q.opts.Name, err)
	}
	return nil, ErrEmpty
}

// take acknowledges a delivered item (removing it from the stream) and returns its
// verified body.
func (q *Queue) take(ctx context.Context, m jetstream.Msg) ([]byte, error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// Acked before anything else: the item is this getter's from here on, as a
	// multiprocessing.Queue item is once get() returned it.
	if err := retry(actx, m.DoubleAck); err != nil {
		return nil, errs.Errorf("gompx: queue %s: ack: %w", q.opts.Name, err)
	}
	h := m.Headers()
	obj := h.Get(hdrQueueObj)
	body := m.Data()
	if obj != "" {
		if !strings.HasPrefix(obj, "q."+q.opts.Name+".") {
			return nil, errs.Errorf("%w: queue %s: item names a foreign object", ErrBadMAC, q.opts.Name)
		}
		var err error
		if body, err = q.conn.getObject(actx, obj); err != nil {
			return nil, errs.Errorf("gompx: queue %s: the item's body was lost: %w", q.opts.Name, err)
		}
	}
	sum, err := hex.DecodeString(h.Get(hdrMac))
	if err != nil || len(sum) != sha256.Size ||
		!hmac.Equal(sum, mac(q.conn.opts.Authkey, "gompx-queue", []string{q.opts.Name, obj}, body)) {
		return nil, errs.Errorf("%w (queue %s)", ErrBadMAC, q.opts.Name)
	}
	if obj != "" {
		q.conn.deleteObject(actx, obj)
	}
	return body, nil
}

// Len is the number of items in the queue, as the stream counts them (an item a
// getter was delivered but has not acknowledged yet counts).
func (q *Queue) Len(ctx context.Context) (int, error) {
	info, err := q.stream.Info(ctx)
	if err != nil {
		return 0, errs.Errorf("gompx: queue %s: %w", q.opts.Name, err)
	}
	return int(info.State.Msgs), nil
}

// Unfinished is the count of a joinable queue's items put and not yet marked done.
func (q *Queue) Unfinished(ctx context.Context) (int64, error) {
	if q.kv == nil {
		return 0, errs.Errorf("gompx: queue %s is not joinable", q.opts.Name)
	}
	n, _, err := q.counter(ctx)
	return n, err
}

func (q *Queue) counter(ctx context.Context) (int64, uint64, error) {
	e, err := q.kv.Get(ctx, q.opts.Name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, errs.Errorf("gompx: queue %s: counter: %w", q.opts.Name, err)
	}
	n, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil {
		return 0, 0, errs.Errorf("gompx: queue %s: counter holds %q", q.opts.Name, e.Value())
	}
	return n, e.Revision(), nil
}

// addUnfinished adds d to the unfinished count (compare and swap, retried on a
// concurrent change) and returns the new count; ErrTaskDone if it would go below 0.
func (q *Queue) addUnfinished(ctx context.Context, d int64) (int64, error) {
	for {
		n, rev, err := q.counter(ctx)
		if err != nil {
			return 0, err
		}
		if n+d < 0 {
			return n, ErrTaskDone
		}
		v := []byte(strconv.FormatInt(n+d, 10))
		if rev == 0 {
			_, err = q.kv.Create(ctx, q.opts.Name, v)
		} else {
			_, err = q.kv.Update(ctx, q.opts.Name, v, rev)
		}
		if err == nil {
			return n + d, nil
		}
		var api *jetstream.APIError
		if !errors.Is(err, jetstream.ErrKeyExists) && !(errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence) {
			return 0, errs.Errorf("gompx: queue %s: counter: %w", q.opts.Name, err)
		}
		if ctx.Err() != nil {
			return 0, errs.Context(ctx)
		}
	}
}

// TaskDone marks one item taken from a joinable queue as processed.
func (q *Queue) TaskDone(ctx context.Context) error {
	if q.kv == nil {
		return errs.Errorf("gompx: queue %s is not joinable", q.opts.Name)
	}
	_, err := q.addUnfinished(ctx, -1)
	return err
}

// Join waits until every item put in a joinable queue has been marked done, or ctx
// is done (then its error).
func (q *Queue) Join(ctx context.Context) error {
	if q.kv == nil {
		return errs.Errorf("gompx: queue %s is not joinable", q.opts.Name)
	}
	q.watchMu.Lock()
	if q.watch == nil && q.watchErr == nil {
		if err := q.startWatch(ctx); err != nil {
			q.watchMu.Unlock()
			return err
		}
	}
	q.watchMu.Unlock()
	for {
		q.watchMu.Lock()
		done, err, ch := q.counted && q.count == 0, q.watchErr, q.countedCh
		q.watchMu.Unlock()
		if done {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errs.Context(ctx)
		}
	}
}

// startWatch starts the watch of the unfinished count; q.watchMu held.
func (q *Queue) startWatch(ctx context.Context) error {
	w, err := q.kv.Watch(context.WithoutCancel(ctx), q.opts.Name)
	if err != nil {
		return errs.Errorf("gompx: queue %s: watch the counter: %w", q.opts.Name, err)
	}
	q.watch = w
	q.countedCh = make(chan struct{})
	go func() {
		var last int64
		initial := true
		for e := range w.Updates() {
			var err error
			if e == nil { // the current value (if any) came: from here on, changes
				initial = false
			} else if e.Operation() != jetstream.KeyValuePut {
				last = 0
			} else if last, err = strconv.ParseInt(string(e.Value()), 10, 64); err != nil {
				err = errs.Errorf("gompx: queue %s: counter holds %q", q.opts.Name, e.Value())
			}
			if initial && err == nil {
				continue
			}
			q.watchMu.Lock()
			q.count, q.counted, q.watchErr = last, true, err
			close(q.countedCh)
			q.countedCh = make(chan struct{})
			q.watchMu.Unlock()
		}
		q.watchMu.Lock()
		if q.watchErr == nil {
			q.watchErr = errs.Errorf("gompx: queue %s: the counter's watch ended (connection closed?)", q.opts.Name)
		}
		close(q.countedCh)
		q.countedCh = make(chan struct{})
		q.watchMu.Unlock()
	}()
	return nil
}

// Close stops the queue's watch, if any; the connection stays open.
func (q *Queue) Close() {
	q.watchMu.Lock()
	defer q.watchMu.Unlock()
	if q.watch != nil {
		q.watch.Stop()
	}
}

// Delete removes the queue from the cluster: its items, its consumer and its count.
// Processes that have it open get errors from then on.
func (q *Queue) Delete(ctx context.Context) error {
	err := q.conn.js.DeleteStream(ctx, queueStream(q.opts.Name))
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return errs.Errorf("gompx: delete queue %s: %w", q.opts.Name, err)
	}
	if q.kv != nil {
		if err := q.kv.Purge(ctx, q.opts.Name); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return errs.Errorf("gompx: delete queue %s: counter: %w", q.opts.Name, err)
		}
	}
	return nil
}
