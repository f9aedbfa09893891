package gompxcore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
)

// clusterQueue is a named queue's connection, with the items each getter (a Python
// thread, by its ident) took and has not copied out yet.
type clusterQueue struct {
	conn  *cluster.Conn
	q     *cluster.Queue
	mu    sync.Mutex
	taken map[int64][]byte
}

// ClusterQueueOpen opens (creating if needed) a named queue. spec is the JSON of
// ClusterConnect plus name, maxsize and joinable. Returns a handle.
func ClusterQueueOpen(spec string) (h int64, err error) {
	defer recoverInto(&err)
	var s struct {
		clusterSpec
		Name     string `json:"name"`
		MaxSize  int    `json:"maxsize"`
		Joinable bool   `json:"joinable"`
	}
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return 0, newPyError(ErrKindValueError, "bad cluster queue spec: %v", err)
	}
	opts, err := s.options("gompx queue " + s.Name)
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.connectContext()
	defer cancel()
	conn, err := cluster.Connect(ctx, opts)
	if err != nil {
		return 0, queueError(err)
	}
	q, err := cluster.OpenQueue(ctx, conn, cluster.QueueOptions{Name: s.Name, MaxSize: s.MaxSize, Joinable: s.Joinable})
	if err != nil {
		conn.Close()
		return 0, queueError(err)
	}
	return handles.put(&clusterQueue{conn: conn, q: q, taken: map[int64][]byte{}}), nil
}

func queueError(err error) error {
	switch {
	case errors.Is(err, cluster.ErrQueueName), errors.Is(err, cluster.ErrQueueMismatch),
		errors.Is(err, cluster.ErrTaskDone), errors.Is(err, cluster.ErrInsecure):
		return newPyError(ErrKindValueError, "%s", err)
	case errors.Is(err, cluster.ErrBadMAC):
		return newPyError(ErrKindAuthenticationError, "%s", err)
	case errors.Is(err, context.DeadlineExceeded):
		return newPyError(ErrKindTimeoutError, "%s", err)
	}
	return newPyError(ErrKindOSError, "%s", err)
}

// queueContext is the context of a wait of timeoutMs (negative: no limit).
func queueContext(timeoutMs int) (context.Context, context.CancelFunc) {
	if timeoutMs < 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), millis(timeoutMs))
}

// ClusterQueuePut adds the items framed in the n bytes at addr (each a 4-byte
// big-endian length, then the item) in order, waiting up to timeoutMs (0: not at all,
// negative: no limit) while the queue is full. Returns how many were added; fewer
// than were given means the queue stayed full.
func ClusterQueuePut(h int64, addr uintptr, n int, timeoutMs int) (added int, err error) {
	defer recoverInto(&err)
	cq, err := get[*clusterQueue](h)
	if err != nil {
		return 0, err
	}
	items, err := unframe(pyMemory(addr, n))
	if err != nil {
		return 0, err
	}
	ctx, cancel := queueContext(timeoutMs)
	defer cancel()
	if timeoutMs == 0 {
		for _, it := range items {
			if err := cq.q.TryPut(ctx, it); err != nil {
				if errors.Is(err, cluster.ErrFull) {
					return added, nil
				}
				return added, queueError(err)
			}
			added++
		}
		return added, nil
	}
	added, err = cq.q.PutMany(ctx, items)
	if errors.Is(err, cluster.ErrFull) {
		return added, nil
	}
	if err != nil {
		return added, queueError(err)
	}
	return added, nil
}

// unframe copies the items out of a framed buffer (Python's memory is not kept).
func unframe(b []byte) ([][]byte, error) {
	var items [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, newPyError(ErrKindValueError, "bad framing")
		}
		n := int(binary.BigEndian.Uint32(b))
		if len(b)-4 < n {
			return nil, newPyError(ErrKindValueError, "bad framing")
		}
		items = append(items, append([]byte(nil), b[4:4+n]...))
		b = b[4+n:]
	}
	return items, nil
}

// ClusterQueueGet takes up to max items, waiting up to timeoutMs (0: not at all,
// negative: no limit) for the first. Returns -1 if none came, else the size of the
// framed items ClusterQueueFill copies out for the same key (the calling thread).
func ClusterQueueGet(h, key int64, maxItems int, timeoutMs int) (size int, err error) {
	defer recoverInto(&err)
	cq, err := get[*clusterQueue](h)
	if err != nil {
		return 0, err
	}
	ctx, cancel := queueContext(timeoutMs)
	defer cancel()
	var items [][]byte
	if timeoutMs == 0 {
		var it []byte
		if it, err = cq.q.TryGet(ctx); err == nil {
			items = [][]byte{it}
		}
	} else {
		items, err = cq.q.GetMany(ctx, max(maxItems, 1))
	}
	if errors.Is(err, cluster.ErrEmpty) {
		return -1, nil
	}
	if err != nil {
		return 0, queueError(err)
	}
	total := 0
	for _, it := range items {
		total += 4 + len(it)
	}
	buf := make([]byte, 0, total)
	for _, it := range items {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(it)))
		buf = append(buf, it...)
	}
	cq.mu.Lock()
	cq.taken[key] = buf
	cq.mu.Unlock()
	return len(buf), nil
}

// ClusterQueueFill copies the framed items ClusterQueueGet took for key (n bytes) to
// addr.
func ClusterQueueFill(h, key int64, addr uintptr, n int) (ok bool, err error) {
	defer recoverInto(&err)
	cq, err := get[*clusterQueue](h)
	if err != nil {
		return false, err
	}
	cq.mu.Lock()
	defer cq.mu.Unlock()
	buf, found := cq.taken[key]
	if !found || len(buf) != n {
		return false, newPyError(ErrKindValueError, "no items taken, or size %d is wrong", n)
	}
	copy(pyMemory(addr, n), buf)
	delete(cq.taken, key)
	return true, nil
}

// queueCallTimeout bounds the calls that wait for no item (counts, task_done, delete):
// they fail instead of hanging when the cluster does not answer.
const queueCallTimeout = 30 * time.Second

// withQueue runs f on the handle's queue with a context of queueCallTimeout, its error
// mapped by queueError.
func withQueue[R any](h int64, f func(context.Context, *cluster.Queue) (R, error)) (R, error) {
	return with(h, func(cq *clusterQueue) (R, error) {
		ctx, cancel := context.WithTimeout(context.Background(), queueCallTimeout)
		defer cancel()
		r, err := f(ctx, cq.q)
		if err != nil {
			return r, queueError(err)
		}
		return r, nil
	})
}

// ClusterQueueSize returns the number of items in the queue.
func ClusterQueueSize(h int64) (n int, err error) {
	return withQueue(h, func(ctx context.Context, q *cluster.Queue) (int, error) { return q.Len(ctx) })
}

// ClusterQueueTaskDone marks one taken item of a joinable queue processed.
func ClusterQueueTaskDone(h int64) (ok bool, err error) {
	return withQueue(h, func(ctx context.Context, q *cluster.Queue) (bool, error) {
		return true, q.TaskDone(ctx)
	})
}

// ClusterQueueJoin waits up to timeoutMs (negative: no limit) until every item put in
// the joinable queue is marked done; false if the time ran out.
func ClusterQueueJoin(h int64, timeoutMs int) (done bool, err error) {
	return with(h, func(cq *clusterQueue) (bool, error) {
		ctx, cancel := queueContext(timeoutMs)
		defer cancel()
		err := cq.q.Join(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return false, nil
		}
		if err != nil {
			return false, queueError(err)
		}
		return true, nil
	})
}

// ClusterQueueUnfinished returns the joinable queue's count of unfinished tasks.
func ClusterQueueUnfinished(h int64) (n int64, err error) {
	return withQueue(h, func(ctx context.Context, q *cluster.Queue) (int64, error) {
		return q.Unfinished(ctx)
	})
}

// ClusterQueueDelete removes the queue from the cluster (items, consumer, count).
func ClusterQueueDelete(h int64) (ok bool, err error) {
	return withQueue(h, func(ctx context.Context, q *cluster.Queue) (bool, error) {
		return true, q.Delete(ctx)
	})
}

// ClusterQueueClose closes the queue's connection and forgets its handle. It is
// idempotent.
func ClusterQueueClose(h int64) (ok bool, err error) {
	defer recoverInto(&err)
	if cq, err := get[*clusterQueue](h); err == nil {
		cq.q.Close()
		cq.conn.Close()
	}
	handles.drop(h)
	return true, nil
}

// The process's private server for named queues with cluster="local": started on
// first use, it lives as long as the process (its children reach it through the
// URL, which Python puts in their environment).
var localQueues struct {
	sync.Mutex
	l *cluster.Local
}

// ClusterLocalServer returns the URL of this process's private `gompx server` on
// 127.0.0.1, starting it (command is the gompx program) on first use.
func ClusterLocalServer(command string) (url string, err error) {
	defer recoverInto(&err)
	localQueues.Lock()
	defer localQueues.Unlock()
	if localQueues.l == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		l, err := cluster.StartLocalServer(ctx, command)
		if err != nil {
			return "", newPyError(ErrKindOSError, "%s", err)
		}
		localQueues.l = l
	}
	return localQueues.l.URL(), nil
}
