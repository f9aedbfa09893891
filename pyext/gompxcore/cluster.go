package gompxcore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
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

// clusterPool is a pool's connection and caller, with the result each job's last
// ClusterTake took, waiting for ClusterFill.
type clusterPool struct {
	conn   *cluster.Conn
	caller *cluster.Caller
	mu     sync.Mutex
	taken  map[int64]*cluster.Result
}

// clusterSpec is what Python passes to ClusterConnect, as JSON.
type clusterSpec struct {
	URL         string `json:"url"`
	Authkey     string `json:"authkey"` // hex
	Insecure    bool   `json:"insecure"`
	User        string `json:"user"`
	Password    string `json:"password"`
	Token       string `json:"token"`
	NKey        string `json:"nkey"`
	Creds       string `json:"creds"`
	CA          string `json:"tls_ca"`
	Cert        string `json:"tls_cert"`
	Key         string `json:"tls_key"`
	Replicas    int    `json:"replicas"`
	AckWaitMs   int    `json:"ack_wait_ms"`
	ExpiryMs    int    `json:"caller_expiry_ms"`
	ConnectMs   int    `json:"connect_timeout_ms"`
	ReconnectMs int    `json:"reconnect_ms"`
	MaxTasks    int    `json:"max_tasks_per_worker"`
}

// options is what the spec asks of cluster.Connect, the connection named name; an
// authkey that is not hex is a ValueError.
func (s *clusterSpec) options(name string) (cluster.Options, error) {
	key, err := hex.DecodeString(s.Authkey)
	if err != nil {
		return cluster.Options{}, newPyError(ErrKindValueError, "authkey is not hex: %v", err)
	}
	return cluster.Options{URL: s.URL, Authkey: key, Insecure: s.Insecure, User: s.User,
		Password: s.Password, Token: s.Token, NKeyFile: s.NKey, CredsFile: s.Creds, CAFile: s.CA,
		CertFile: s.Cert, KeyFile: s.Key, Replicas: s.Replicas, Name: name,
		ReconnectFor: millis(s.ReconnectMs), MaxTasksPerWorker: s.MaxTasks}, nil
}

// connectContext bounds connecting: connect_timeout_ms, or 30 s.
func (s *clusterSpec) connectContext() (context.Context, context.CancelFunc) {
	timeout := 30 * time.Second
	if s.ConnectMs > 0 {
		timeout = millis(s.ConnectMs)
	}
	return context.WithTimeout(context.Background(), timeout)
}

// ClusterConnect connects a pool to a NATS JetStream cluster. spec is a JSON object:
// url, authkey (hex), insecure, user, password, token, nkey, creds, tls_ca, tls_cert,
// tls_key, replicas, ack_wait_ms, caller_expiry_ms, connect_timeout_ms. Returns a
// handle. A remote server without credentials raises ValueError unless insecure.
func ClusterConnect(spec string) (h int64, err error) {
	defer recoverInto(&err)
	var s clusterSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return 0, newPyError(ErrKindValueError, "bad cluster spec: %v", err)
	}
	opts, err := s.options("gompx pool")
	if err != nil {
		return 0, err
	}
	opts.AckWait, opts.CallerExpiry = millis(s.AckWaitMs), millis(s.ExpiryMs)
	ctx, cancel := s.connectContext()
	defer cancel()
	conn, err := cluster.Connect(ctx, opts)
	if err != nil {
		return 0, clusterError(err)
	}
	caller, err := cluster.NewCaller(ctx, conn)
	if err != nil {
		conn.Close()
		return 0, clusterError(err)
	}
	return handles.put(&clusterPool{conn: conn, caller: caller, taken: map[int64]*cluster.Result{}}), nil
}

func clusterError(err error) error {
	switch {
	case errors.Is(err, cluster.ErrClosed):
		return newPyError(ErrKindValueError, "Pool not running")
	case errors.Is(err, cluster.ErrInsecure):
		return newPyError(ErrKindValueError, "%s", err)
	case errors.Is(err, context.DeadlineExceeded):
		return newPyError(ErrKindTimeoutError, "%s", err)
	}
	return newPyError(ErrKindOSError, "%s", err)
}

// ClusterID returns the pool's id (the last token of its subjects).
func ClusterID(h int64) (id string, err error) {
	return with(h, func(p *clusterPool) (id string, err error) { return p.caller.ID(), nil })
}

// ClusterNewJob starts a job and returns its id.
func ClusterNewJob(h int64) (job int64, err error) {
	return with(h, func(p *clusterPool) (job int64, err error) {
		id, err := p.caller.NewJob()
		if err != nil {
			return 0, clusterError(err)
		}
		return int64(id), nil
	})
}

// ClusterSubmit publishes chunk of job: fn is "module:qualname" (for messages), the n
// bytes at addr the pickle of (function, calls, mode); they are copied.
func ClusterSubmit(h, job int64, chunk int, fn string, addr uintptr, n int) (ok bool, err error) {
	return with(h, func(p *clusterPool) (ok bool, err error) {
		body := make([]byte, n)
		copy(body, pyMemory(addr, n))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := p.caller.Submit(ctx, uint64(job), uint32(chunk), fn, body); err != nil {
			return false, clusterError(err)
		}
		return true, nil
	})
}

// ClusterSetLength says how many chunks job has; ClusterWatch asks ClusterNextCompleted
// to report it when its results are all in.
func ClusterSetLength(h, job int64, n int) (ok bool, err error) {
	return with(h, func(p *clusterPool) (ok bool, err error) {
		if err := p.caller.SetLength(uint64(job), n); err != nil {
			return false, clusterError(err)
		}
		return true, nil
	})
}

// ClusterWatch: see ClusterSetLength.
func ClusterWatch(h, job int64) (ok bool, err error) {
	return with(h, func(p *clusterPool) (ok bool, err error) {
		if err := p.caller.Watch(uint64(job)); err != nil {
			return false, clusterError(err)
		}
		return true, nil
	})
}

// ClusterTake waits up to timeoutMs (negative: forever) for the job's next result, in
// chunk order if ordered. Returns ClusterPending, ClusterEnd, or status | size<<3; the
// body waits for ClusterFill.
func ClusterTake(h, job int64, ordered bool, timeoutMs int) (packed int64, err error) {
	return with(h, func(p *clusterPool) (packed int64, err error) {
		p.mu.Lock()
		r := p.taken[job]
		p.mu.Unlock()
		if r == nil {
			ctx, cancel := waitContext(timeoutMs)
			defer cancel()
			r, err = p.caller.Take(ctx, uint64(job), ordered)
			switch {
			case errors.Is(err, io.EOF):
				return ClusterEnd, nil
			case errors.Is(err, context.DeadlineExceeded):
				return ClusterPending, nil
			case err != nil:
				return 0, clusterError(err)
			}
			p.mu.Lock()
			p.taken[job] = r
			p.mu.Unlock()
		}
		status := map[cluster.Status]int64{cluster.StatusOK: ClusterOK, cluster.StatusLost: ClusterLost,
			cluster.StatusAuth: ClusterAuth, cluster.StatusFail: ClusterFail}[r.Status]
		return status | int64(len(r.Body))<<3, nil
	})
}

func waitContext(timeoutMs int) (context.Context, context.CancelFunc) {
	if timeoutMs < 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), millis(timeoutMs))
}

// ClusterFill copies the body of the result ClusterTake took (n bytes) to addr and
// returns its chunk index.
func ClusterFill(h, job int64, addr uintptr, n int) (chunk int64, err error) {
	return with(h, func(p *clusterPool) (chunk int64, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		r := p.taken[job]
		if r == nil || len(r.Body) != n {
			return 0, newPyError(ErrKindValueError, "no result taken, or size %d is wrong", n)
		}
		copy(pyMemory(addr, n), r.Body)
		delete(p.taken, job)
		return int64(r.Chunk), nil
	})
}

// ClusterDone reports whether every result of job is in.
func ClusterDone(h, job int64) (done bool, err error) {
	return with(h, func(p *clusterPool) (done bool, err error) {
		done, err = p.caller.Done(uint64(job))
		if err != nil {
			return false, clusterError(err)
		}
		return done, nil
	})
}

// ClusterNextCompleted waits up to timeoutMs for a watched job whose results are all
// in; -1 if none came. Raises ValueError once the pool is closed.
func ClusterNextCompleted(h int64, timeoutMs int) (job int64, err error) {
	return with(h, func(p *clusterPool) (job int64, err error) {
		ctx, cancel := waitContext(timeoutMs)
		defer cancel()
		id, err := p.caller.NextCompleted(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return -1, nil
		}
		if err != nil {
			return 0, clusterError(err)
		}
		return int64(id), nil
	})
}

// ClusterDropJob forgets a job and its results.
func ClusterDropJob(h, job int64) (ok bool, err error) {
	return withOr(h, true, func(p *clusterPool) (ok bool, err error) {
		p.caller.DropJob(uint64(job))
		p.mu.Lock()
		delete(p.taken, job)
		p.mu.Unlock()
		return true, nil
	})
}

// ClusterStats returns "duplicates forged": results dropped as second answers of a
// chunk, and as failing their HMAC check.
func ClusterStats(h int64) (stats string, err error) {
	return with(h, func(p *clusterPool) (stats string, err error) {
		d, f := p.caller.Stats()
		return fmt.Sprintf("%d %d", d, f), nil
	})
}

// ClusterClose closes the pool's caller (with terminate: failing every chunk without a
// result first), deletes its consumer and unrun tasks, and closes the connection.
// Results already in can still be taken until ClusterRelease.
func ClusterClose(h int64, terminate bool) (ok bool, err error) {
	return withOr(h, true, func(p *clusterPool) (ok bool, err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if terminate {
			err = p.caller.Terminate(ctx)
		} else {
			err = p.caller.Close(ctx)
		}
		p.conn.Close()
		if err != nil {
			return false, clusterError(err)
		}
		return true, nil
	})
}

// ClusterRelease forgets the pool's handle (closing it first if needed).
func ClusterRelease(h int64) (ok bool, err error) {
	defer recoverInto(&err)
	if p, err := get[*clusterPool](h); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p.caller.Close(ctx)
		cancel()
		p.conn.Close()
	}
	handles.drop(h)
	return true, nil
}

// ClusterLocalStart starts a private cluster: `gompx server` on 127.0.0.1 and one
// `gompx worker` with the given number of processes. spec is a JSON object: command
// (the gompx program), python, processes, authkey (hex), env (list of "K=V"), dir,
// ack_wait_ms. Returns a handle; ClusterLocalURL gives the server's URL.
func ClusterLocalStart(spec string) (h int64, err error) {
	defer recoverInto(&err)
	var s struct {
		Command   string   `json:"command"`
		Python    string   `json:"python"`
		Processes int      `json:"processes"`
		Authkey   string   `json:"authkey"`
		Env       []string `json:"env"`
		Dir       string   `json:"dir"`
		AckWaitMs int      `json:"ack_wait_ms"`
	}
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return 0, newPyError(ErrKindValueError, "bad local cluster spec: %v", err)
	}
	key, err := hex.DecodeString(s.Authkey)
	if err != nil {
		return 0, newPyError(ErrKindValueError, "authkey is not hex: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := cluster.StartLocal(ctx, cluster.LocalOptions{Command: s.Command, Python: s.Python,
		Processes: s.Processes, Authkey: key, Env: s.Env, Dir: s.Dir, AckWait: millis(s.AckWaitMs)})
	if err != nil {
		return 0, newPyError(ErrKindOSError, "%s", err)
	}
	return handles.put(l), nil
}

// ClusterLocalURL returns the private server's client URL.
func ClusterLocalURL(h int64) (url string, err error) {
	return with(h, func(l *cluster.Local) (url string, err error) { return l.URL(), nil })
}

// ClusterLocalWorkerPid returns the process id of the private `gompx worker`.
func ClusterLocalWorkerPid(h int64) (pid int, err error) {
	return with(h, func(l *cluster.Local) (pid int, err error) { return l.WorkerPid(), nil })
}

// ClusterLocalStop stops the worker, then the server (SIGTERM, SIGKILL after
// graceMs), and releases the handle.
func ClusterLocalStop(h int64, graceMs int) (ok bool, err error) {
	return withOr(h, true, func(l *cluster.Local) (ok bool, err error) {
		handles.drop(h)
		if err := l.Stop(millis(graceMs)); err != nil {
			return false, newPyError(ErrKindOSError, "%s", err)
		}
		return true, nil
	})
}
