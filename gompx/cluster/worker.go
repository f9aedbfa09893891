package cluster

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Handler runs one chunk: fn is the task's "module:qualname" (for messages), body
// the verified pickle. It returns the result's status and body. ctx is canceled
// when the worker stops; the chunk is then given back for another worker.
type Handler func(ctx context.Context, fn string, body []byte) (Status, []byte)

// WorkerOptions configure Serve.
type WorkerOptions struct {
	// Slots is how many chunks run at once (one per local worker process); 1 if 0.
	Slots int
	// Name identifies this worker in results ("host/pid" if empty).
	Name string
	// Logf, if set, receives one line per event worth an operator's attention.
	Logf func(format string, args ...any)
}

// worker is the state of one Serve.
type worker struct {
	conn     *Conn
	cons     jetstream.Consumer
	opts     WorkerOptions
	handler  Handler
	progress time.Duration
	answers  sync.WaitGroup // answers being stored after their chunk ran

	mu      sync.Mutex
	callers map[string]callerSeen
	// running holds the cancel of each chunk being run, by pool: a pool whose result
	// consumer is deleted (terminated, or expired after its caller died) has its
	// running chunks stopped, as Pool.terminate() stops the tasks of a local pool.
	running map[string]map[*context.CancelFunc]struct{}
}

type callerSeen struct {
	alive bool
	at    time.Time
}

// Serve pulls chunks from the cluster and runs them with handler until ctx is done,
// at most opts.Slots at once. Chunks running when ctx ends are given back (Nak) for
// another worker. It returns nil after ctx ended, or the error that stopped it.
func Serve(ctx context.Context, c *Conn, opts WorkerOptions, handler Handler) error {
	if opts.Slots <= 0 {
		opts.Slots = 1
	}
	if opts.Name == "" {
		host, _ := os.Hostname()
		opts.Name = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	// Retried like Connect's own setup: a node that just (re)started joins a cluster that
	// may still be electing the consumer's leader, and the lookup gets no answer till then.
	var cons jetstream.Consumer
	err := retry(ctx, func(ctx context.Context) (err error) {
		cons, err = c.js.Consumer(ctx, TasksStream, WorkerConsumer)
		return err
	})
	if err != nil {
		return errs.Errorf("gompx: consumer %s: %w", WorkerConsumer, err)
	}
	w := &worker{conn: c, cons: cons, opts: opts, handler: handler, callers: map[string]callerSeen{},
		running:  map[string]map[*context.CancelFunc]struct{}{},
		progress: max(cons.CachedInfo().Config.AckWait/3, 100*time.Millisecond)}
	gone, err := c.nc.Subscribe(consumerDeleted+ResultsStream+".*", w.onCallerGone)
	if err != nil {
		return errs.Errorf("gompx: subscribe to deleted consumers: %w", err)
	}
	defer gone.Unsubscribe()
	errs := make(chan error, opts.Slots)
	var wg sync.WaitGroup
	for range opts.Slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.loop(ctx)
		}()
	}
	wg.Wait()
	w.answers.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// delivery is a pulled chunk, kept alive by progress acks until stop is called.
type delivery struct {
	msg  jetstream.Msg
	stop func()
}

// loop runs one chunk at a time until ctx is done, while a fetcher pulls the next one
// (at most one waits, kept alive), so a process never waits for a pull round trip.
func (w *worker) loop(ctx context.Context) error {
	next := make(chan delivery) // unbuffered: the fetcher holds at most one
	errc := make(chan error, 1)
	go func() {
		defer close(next)
		errc <- w.fetch(ctx, next)
	}()
	for d := range next {
		w.handle(ctx, d)
	}
	return <-errc
}

// fetch pulls chunks into next until ctx is done; a chunk it holds then goes back.
func (w *worker) fetch(ctx context.Context, next chan<- delivery) error {
	for ctx.Err() == nil {
		msg, err := w.cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			switch {
			case errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages):
				continue
			case isClosed(err):
				if ctx.Err() != nil {
					return nil
				}
				return errs.Errorf("gompx: lost the cluster: %w", err)
			}
			w.opts.Logf("gompx worker: pull: %v", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		d := delivery{msg: msg, stop: w.keepAlive(msg)}
		select {
		case next <- d:
		case <-ctx.Done():
			d.stop()
			msg.Nak()
		}
	}
	return nil
}

// handle runs one delivered chunk and acknowledges it once its result is stored.
func (w *worker) handle(ctx context.Context, d delivery) {
	msg, stop := d.msg, d.stop
	answered := false
	defer func() {
		if !answered {
			stop()
		}
	}()
	t, sum, err := parseTask(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		w.opts.Logf("gompx worker: dropping a malformed task: %v", err)
		msg.Term()
		return
	}
	if !w.callerAlive(ctx, t.Pool) {
		w.opts.Logf("gompx worker: dropping chunk %s: its pool is gone", t.msgID())
		msg.Term()
		return
	}
	body := t.Body
	if t.Obj != "" {
		if body, err = w.conn.getObject(ctx, t.Obj); err != nil {
			w.answer(ctx, msg, t, StatusFail, []byte("the task's body was lost: "+err.Error()))
			return
		}
	}
	if !hmac.Equal(sum, mac(w.conn.opts.Authkey, "gompx-task", t.fields(), body)) {
		w.opts.Logf("gompx worker: chunk %s failed its HMAC check", t.msgID())
		w.answer(ctx, msg, t, StatusAuth, []byte(fmt.Sprintf(
			"gompx worker %s could not verify the task's HMAC: its authkey differs from the pool's", w.opts.Name)))
		return
	}
	// The last delivery of a chunk that ran MaxDeliveries times: answer, do not run.
	if md, err := msg.Metadata(); err == nil && md.NumDelivered > MaxDeliveries {
		w.answer(ctx, msg, t, StatusLost, []byte(lostMessage))
		return
	}
	hctx, cancel := context.WithCancel(context.WithValue(ctx, chunkKey{},
		Chunk{Pool: t.Pool, MaxTasksPerWorker: t.MaxTasks}))
	w.track(t.Pool, &cancel, true)
	status, out := w.handler(hctx, t.Func, body)
	w.track(t.Pool, &cancel, false)
	poolGone := hctx.Err() != nil && ctx.Err() == nil
	cancel()
	if ctx.Err() != nil {
		msg.Nak() // stopping: another worker runs it
		return
	}
	if poolGone {
		w.opts.Logf("gompx worker: chunk %s stopped: its pool is gone", t.msgID())
		msg.Term()
		return
	}
	// The slot is free for the next chunk while the result is stored and the task
	// acked (two round trips, replicated): the process does not wait for them.
	answered = true
	w.answers.Add(1)
	go func() {
		defer w.answers.Done()
		defer stop()
		w.answer(ctx, msg, t, status, out)
	}()
}

// keepAlive sends progress acks for msg until the returned function is called.
func (w *worker) keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(w.progress)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				msg.InProgress()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// answer publishes the chunk's result, then acks (auth: terminates) the task.
func (w *worker) answer(ctx context.Context, msg jetstream.Msg, t *task, status Status, body []byte) {
	// Retried through reconnections and leader elections for up to 30 s, while the
	// chunk's progress acks go on. A chunk whose answer cannot be stored is left to
	// its ack wait (no Nak: a redelivery right away would spend a delivery on the
	// same outage).
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	r := &result{Pool: t.Pool, Job: t.Job, Chunk: t.Chunk, Status: status, Worker: w.opts.Name, Body: body}
	if len(body) > InlineLimit {
		r.Obj = t.msgID() + ".result"
		if err := retry(pctx, func(c context.Context) error { return w.conn.putObject(c, r.Obj, body) }); err != nil {
			w.opts.Logf("gompx worker: chunk %s: %v", t.msgID(), err)
			return
		}
		r.Body = nil
	}
	m := r.toMsg(w.conn.opts.Authkey, body)
	if err := retry(pctx, func(c context.Context) error {
		_, err := w.conn.js.PublishMsg(c, m)
		return err
	}); err != nil {
		w.opts.Logf("gompx worker: chunk %s: publish result: %v", t.msgID(), err)
		return
	}
	if status == StatusAuth {
		msg.Term()
		return
	}
	if err := retry(pctx, msg.DoubleAck); err != nil {
		w.opts.Logf("gompx worker: chunk %s: ack: %v (it may run again; its result counts once)", t.msgID(), err)
	}
}

// consumerDeleted is the prefix of the advisory the server sends when it deletes a
// consumer (its stream and name follow).
const consumerDeleted = "$JS.EVENT.ADVISORY.CONSUMER.DELETED."

// track adds (or removes) the cancel of a chunk of pool being run.
func (w *worker) track(pool string, cancel *context.CancelFunc, add bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !add {
		delete(w.running[pool], cancel)
		if len(w.running[pool]) == 0 {
			delete(w.running, pool)
		}
		return
	}
	if w.running[pool] == nil {
		w.running[pool] = map[*context.CancelFunc]struct{}{}
	}
	w.running[pool][cancel] = struct{}{}
}

// onCallerGone stops the running chunks of a pool whose result consumer was deleted:
// nobody will take their results. The pool counts as gone for later chunks too.
func (w *worker) onCallerGone(m *nats.Msg) {
	name := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	pool, ok := strings.CutPrefix(name, resultConsumer(""))
	if !ok {
		return
	}
	w.mu.Lock()
	w.callers[pool] = callerSeen{alive: false, at: time.Now()}
	cancels := w.running[pool]
	delete(w.running, pool)
	w.mu.Unlock()
	for cancel := range cancels {
		(*cancel)()
	}
}

// callerAlive reports whether pool's result consumer still exists (cached 5 s).
func (w *worker) callerAlive(ctx context.Context, pool string) bool {
	w.mu.Lock()
	seen, ok := w.callers[pool]
	w.mu.Unlock()
	if ok && time.Since(seen.at) < 5*time.Second {
		return seen.alive
	}
	_, err := w.conn.js.Consumer(ctx, ResultsStream, resultConsumer(pool))
	alive := !errors.Is(err, jetstream.ErrConsumerNotFound)
	w.mu.Lock()
	w.callers[pool] = callerSeen{alive: alive, at: time.Now()}
	w.mu.Unlock()
	return alive
}
