package gompxcore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
	"github.com/gompx/gompx/gompx/pyapi"
)

// What ClusterTake reports in the low 3 bits; the rest is the size of the body
// ClusterFill copies out.
const (
	ClusterPending = -1 // no result within the wait
	ClusterEnd     = -2 // every result of the job was taken
	ClusterOK      = 1  // the pickle of (True, [values]) or (False, exception)
	ClusterLost    = 2  // a message: WorkerLostError
	ClusterAuth    = 3  // a message: AuthenticationError
	ClusterFail    = 4  // a message: the worker could not run the chunk
)

// ClusterConnect connects a pool to a NATS JetStream cluster. spec is a JSON object:
// url, authkey (hex), insecure, user, password, token, nkey, creds, tls_ca, tls_cert,
// tls_key, replicas, ack_wait_ms, caller_expiry_ms, connect_timeout_ms, reconnect_ms,
// max_tasks_per_worker (see pyapi.ClusterSpec). Returns a handle. A remote server without credentials raises
// ValueError unless insecure.
func ClusterConnect(spec string) (h int64, err error) {
	defer recoverInto(&err)
	p, err := pyapi.ConnectPool(spec)
	return put(p, clusterError(err))
}

// clusterError maps the errors of a cluster pool or queue to Python's exceptions.
func clusterError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrClosed):
		return newPyError(ErrKindValueError, "Pool not running")
	case errors.Is(err, pyapi.ErrBadInput), errors.Is(err, cluster.ErrQueueName), errors.Is(err, cluster.ErrQueueMismatch),
		errors.Is(err, cluster.ErrTaskDone), errors.Is(err, cluster.ErrInsecure):
		return newPyError(ErrKindValueError, "%s", err)
	case errors.Is(err, cluster.ErrBadMAC):
		return newPyError(ErrKindAuthenticationError, "%s", err)
	case errors.Is(err, context.DeadlineExceeded):
		return newPyError(ErrKindTimeoutError, "%s", err)
	}
	return newPyError(ErrKindOSError, "%s", err)
}

// withPool runs f on the handle's pool, its error mapped by clusterError.
func withPool[R any](h int64, f func(*pyapi.ClusterPool) (R, error)) (R, error) {
	return with(h, func(p *pyapi.ClusterPool) (R, error) {
		r, err := f(p)
		return r, clusterError(err)
	})
}

// ClusterID returns the pool's id (the last token of its subjects).
func ClusterID(h int64) (id string, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (string, error) { return p.Caller.ID(), nil })
}

// ClusterNewJob starts a job and returns its id.
func ClusterNewJob(h int64) (job int64, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (int64, error) {
		id, err := p.Caller.NewJob()
		return int64(id), err
	})
}

// ClusterSubmit publishes chunk of job: fn is "module:qualname" (for messages), the n
// bytes at addr the pickle of (function, calls, mode); they are copied.
func ClusterSubmit(h, job int64, chunk int, fn string, addr uintptr, n int) (ok bool, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return true, p.Caller.Submit(ctx, uint64(job), uint32(chunk), fn, bytes.Clone(pyMemory(addr, n)))
	})
}

// ClusterSetLength says how many chunks job has; ClusterWatch asks ClusterNextCompleted
// to report it when its results are all in.
func ClusterSetLength(h, job int64, n int) (ok bool, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (bool, error) { return true, p.Caller.SetLength(uint64(job), n) })
}

// ClusterWatch: see ClusterSetLength.
func ClusterWatch(h, job int64) (ok bool, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (bool, error) { return true, p.Caller.Watch(uint64(job)) })
}

var clusterStatus = map[cluster.Status]int64{cluster.StatusOK: ClusterOK, cluster.StatusLost: ClusterLost,
	cluster.StatusAuth: ClusterAuth, cluster.StatusFail: ClusterFail}

// ClusterTake waits up to timeoutMs (negative: forever) for the job's next result, in
// chunk order if ordered. Returns ClusterPending, ClusterEnd, or status | size<<3; the
// body waits for ClusterFill.
func ClusterTake(h, job int64, ordered bool, timeoutMs int) (packed int64, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (int64, error) {
		r, err := p.Take(uint64(job), ordered, millis(timeoutMs))
		switch {
		case pyapi.IsEnd(err):
			return ClusterEnd, nil
		case errors.Is(err, context.DeadlineExceeded):
			return ClusterPending, nil
		case err != nil:
			return 0, err
		}
		return clusterStatus[r.Status] | int64(len(r.Body))<<3, nil
	})
}

// ClusterFill copies the body of the result ClusterTake took (n bytes) to addr and
// returns its chunk index.
func ClusterFill(h, job int64, addr uintptr, n int) (chunk int64, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (int64, error) {
		c, err := p.Fill(uint64(job), pyMemory(addr, n))
		return int64(c), err
	})
}

// ClusterDone reports whether every result of job is in.
func ClusterDone(h, job int64) (done bool, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (bool, error) { return p.Caller.Done(uint64(job)) })
}

// ClusterNextCompleted waits up to timeoutMs for a watched job whose results are all
// in; -1 if none came. Raises ValueError once the pool is closed.
func ClusterNextCompleted(h int64, timeoutMs int) (job int64, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (int64, error) {
		ctx, cancel := pyapi.WaitContext(millis(timeoutMs))
		defer cancel()
		id, err := p.Caller.NextCompleted(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return -1, nil
		}
		return int64(id), err
	})
}

// ClusterDropJob forgets a job and its results.
func ClusterDropJob(h, job int64) (ok bool, err error) {
	return withOr(h, true, func(p *pyapi.ClusterPool) (bool, error) { p.DropJob(uint64(job)); return true, nil })
}

// ClusterStats returns "duplicates forged": results dropped as second answers of a
// chunk, and as failing their HMAC check.
func ClusterStats(h int64) (stats string, err error) {
	return withPool(h, func(p *pyapi.ClusterPool) (string, error) {
		d, f := p.Caller.Stats()
		return fmt.Sprintf("%d %d", d, f), nil
	})
}

// ClusterClose closes the pool's caller (with terminate: failing every chunk without a
// result first), deletes its consumer and unrun tasks, and closes the connection.
// Results already in can still be taken until ClusterRelease.
func ClusterClose(h int64, terminate bool) (ok bool, err error) {
	return withOr(h, true, func(p *pyapi.ClusterPool) (bool, error) {
		return true, clusterError(p.Close(terminate))
	})
}

// ClusterRelease forgets the pool's handle (closing it first if needed).
func ClusterRelease(h int64) (ok bool, err error) {
	return withOr(h, true, func(p *pyapi.ClusterPool) (bool, error) {
		handles.drop(h)
		p.Close(false)
		return true, nil
	})
}

// ClusterLocalStart starts a private cluster: `gompx server` on 127.0.0.1 and one
// `gompx worker` with the given number of processes. spec is a JSON object: command
// (the gompx program), python, processes, authkey (hex), env (list of "K=V"), dir,
// ack_wait_ms. Returns a handle; ClusterLocalURL gives the server's URL.
func ClusterLocalStart(spec string) (h int64, err error) {
	defer recoverInto(&err)
	l, err := pyapi.StartLocal(spec)
	return put(l, clusterError(err))
}

// ClusterLocalURL returns the private server's client URL.
func ClusterLocalURL(h int64) (url string, err error) {
	return read(h, (*cluster.Local).URL)
}

// ClusterLocalWorkerPid returns the process id of the private `gompx worker`.
func ClusterLocalWorkerPid(h int64) (pid int, err error) {
	return read(h, (*cluster.Local).WorkerPid)
}

// ClusterLocalStop stops the worker, then the server (SIGTERM, SIGKILL after
// graceMs), and releases the handle.
func ClusterLocalStop(h int64, graceMs int) (ok bool, err error) {
	return withOr(h, true, func(l *cluster.Local) (ok bool, err error) {
		handles.drop(h)
		return true, clusterError(l.Stop(millis(graceMs)))
	})
}
