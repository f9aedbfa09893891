package gompxcore

import (
	"context"
	"errors"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
	"github.com/gompx/gompx/gompx/pyapi"
)

// ClusterQueueOpen opens (creating if needed) a named queue. spec is the JSON of
// ClusterConnect plus name, maxsize and joinable. Returns a handle.
func ClusterQueueOpen(spec string) (h int64, err error) {
	defer recoverInto(&err)
	q, err := pyapi.OpenClusterQueue(spec)
	return put(q, clusterError(err))
}

// withQueue runs f on the handle's queue, its error mapped by clusterError.
func withQueue[R any](h int64, f func(*pyapi.ClusterQueue) (R, error)) (R, error) {
	return with(h, func(cq *pyapi.ClusterQueue) (R, error) {
		r, err := f(cq)
		return r, clusterError(err)
	})
}

// ClusterQueuePut adds the items framed in the n bytes at addr (each a 4-byte
// big-endian length, then the item) in order, waiting up to timeoutMs (0: not at all,
// negative: no limit) while the queue is full. Returns how many were added; fewer
// than were given means the queue stayed full.
func ClusterQueuePut(h int64, addr uintptr, n int, timeoutMs int) (added int, err error) {
	return withQueue(h, func(cq *pyapi.ClusterQueue) (int, error) { return cq.Put(pyMemory(addr, n), millis(timeoutMs)) })
}

// ClusterQueueGet takes up to max items, waiting up to timeoutMs (0: not at all,
// negative: no limit) for the first. Returns -1 if none came, else the size of the
// framed items ClusterQueueFill copies out for the same key (the calling thread).
func ClusterQueueGet(h, key int64, maxItems int, timeoutMs int) (size int, err error) {
	return withQueue(h, func(cq *pyapi.ClusterQueue) (int, error) { return cq.Get(key, maxItems, millis(timeoutMs)) })
}

// ClusterQueueFill copies the framed items ClusterQueueGet took for key (n bytes) to
// addr.
func ClusterQueueFill(h, key int64, addr uintptr, n int) (ok bool, err error) {
	return withQueue(h, func(cq *pyapi.ClusterQueue) (bool, error) { return true, cq.Fill(key, pyMemory(addr, n)) })
}

// queueCallTimeout bounds the calls that wait for no item (counts, task_done, delete):
// they fail instead of hanging when the cluster does not answer.
const queueCallTimeout = 30 * time.Second

// withQueueCall runs f on the handle's queue with a context of queueCallTimeout.
func withQueueCall[R any](h int64, f func(context.Context, *cluster.Queue) (R, error)) (R, error) {
	return withQueue(h, func(cq *pyapi.ClusterQueue) (R, error) {
		ctx, cancel := context.WithTimeout(context.Background(), queueCallTimeout)
		defer cancel()
		return f(ctx, cq.Queue)
	})
}

// ClusterQueueSize returns the number of items in the queue.
func ClusterQueueSize(h int64) (n int, err error) {
	return withQueueCall(h, func(ctx context.Context, q *cluster.Queue) (int, error) { return q.Len(ctx) })
}

// ClusterQueueTaskDone marks one taken item of a joinable queue processed.
func ClusterQueueTaskDone(h int64) (ok bool, err error) {
	return withQueueCall(h, func(ctx context.Context, q *cluster.Queue) (bool, error) { return true, q.TaskDone(ctx) })
}

// ClusterQueueJoin waits up to timeoutMs (negative: no limit) until every item put in
// the joinable queue is marked done; false if the time ran out.
func ClusterQueueJoin(h int64, timeoutMs int) (done bool, err error) {
	return withQueue(h, func(cq *pyapi.ClusterQueue) (bool, error) {
		ctx, cancel := pyapi.WaitContext(millis(timeoutMs))
		defer cancel()
		err := cq.Queue.Join(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return false, nil
		}
		return err == nil, err
	})
}

// ClusterQueueUnfinished returns the joinable queue's count of unfinished tasks.
func ClusterQueueUnfinished(h int64) (n int64, err error) {
	return withQueueCall(h, func(ctx context.Context, q *cluster.Queue) (int64, error) { return q.Unfinished(ctx) })
}

// ClusterQueueDelete removes the queue from the cluster (items, consumer, count).
func ClusterQueueDelete(h int64) (ok bool, err error) {
	return withQueueCall(h, func(ctx context.Context, q *cluster.Queue) (bool, error) { return true, q.Delete(ctx) })
}

// ClusterQueueClose closes the queue's connection and forgets its handle. It is
// idempotent.
func ClusterQueueClose(h int64) (ok bool, err error) {
	return withOr(h, true, func(cq *pyapi.ClusterQueue) (bool, error) {
		handles.drop(h)
		cq.Close()
		return true, nil
	})
}

// ClusterLocalServer returns the URL of this process's private `gompx server` on
// 127.0.0.1, starting it (command is the gompx program) on first use.
func ClusterLocalServer(command string) (url string, err error) {
	defer recoverInto(&err)
	url, err = pyapi.LocalServerURL(command)
	return url, clusterError(err)
}
