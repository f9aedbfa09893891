package pyapi

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
	"github.com/gompx/gompx/gompx/internal/errs"
)

// ErrBadInput marks an error in what the Python layer passed (a spec, a framing, a
// size): the facade raises it as ValueError.
var ErrBadInput = errs.New("bad input")

func badInput(format string, args ...any) error {
	return errs.Errorf(format+"%w", append(args, bare{})...)
}

// bare wraps ErrBadInput without adding its text to the message.
type bare struct{}

func (bare) Error() string        { return "" }
func (bare) Is(target error) bool { return target == ErrBadInput }

// ClusterSpec is the JSON in which the Python layer describes a cluster connection.
type ClusterSpec struct {
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
	// A pool's maxtasksperchild, counted per caller on each worker machine (0: none).
	MaxTasks int `json:"max_tasks_per_worker"`
	// A named queue's: its name, bound and whether it is joinable.
	Name     string `json:"name"`
	MaxSize  int    `json:"maxsize"`
	Joinable bool   `json:"joinable"`
}

// ParseClusterSpec reads spec; what is wrong in it wraps ErrBadInput.
func ParseClusterSpec(spec string) (*ClusterSpec, error) {
	var s ClusterSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return nil, badInput("bad cluster spec: %v", err)
	}
	return &s, nil
}

// connect connects as the spec says, opts adding the rest, within
// connect_timeout_ms (30 s by default), and runs then on it within the same time;
// the connection is closed again if then fails.
func (s *ClusterSpec) connect(opts cluster.Options, then func(context.Context, *cluster.Conn) error) (*cluster.Conn, error) {
	key, err := hex.DecodeString(s.Authkey)
	if err != nil {
		return nil, badInput("authkey is not hex: %v", err)
	}
	timeout := 30 * time.Second
	if s.ConnectMs > 0 {
		timeout = time.Duration(s.ConnectMs) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	opts.URL, opts.Authkey, opts.Insecure, opts.User, opts.Password = s.URL, key, s.Insecure, s.User, s.Password
	opts.Token, opts.NKeyFile, opts.CredsFile, opts.CAFile, opts.CertFile = s.Token, s.NKey, s.Creds, s.CA, s.Cert
	opts.KeyFile, opts.Replicas, opts.ReconnectFor = s.Key, s.Replicas, ms(s.ReconnectMs)
	opts.MaxTasksPerWorker = s.MaxTasks
	conn, err := cluster.Connect(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := then(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func ms(n int) time.Duration {
	if n < 0 {
		return -1
	}
	return time.Duration(n) * time.Millisecond
}

// WaitContext is the context of a wait of timeout (negative: no limit).
func WaitContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout < 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), timeout)
}

// ClusterPool is a pool's connection and caller, with the result each job's last Take
// took, held until Fill copies it out: Python learns a result's size before it has a
// buffer for it.
type ClusterPool struct {
	conn   *cluster.Conn
	Caller *cluster.Caller
	mu     sync.Mutex
	taken  map[uint64]*cluster.Result
}

// ConnectPool connects a pool's caller as spec says.
func ConnectPool(spec string) (*ClusterPool, error) {
	s, err := ParseClusterSpec(spec)
	if err != nil {
		return nil, err
	}
	p := &ClusterPool{taken: map[uint64]*cluster.Result{}}
	opts := cluster.Options{Name: "gompx pool", AckWait: ms(s.AckWaitMs), CallerExpiry: ms(s.ExpiryMs)}
	p.conn, err = s.connect(opts, func(ctx context.Context, conn *cluster.Conn) (err error) {
		p.Caller, err = cluster.NewCaller(ctx, conn)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Take waits up to timeout (negative: forever) for job's next result, in chunk order if
// ordered, unless one is taken already, and returns it; it stays held until Fill. io.EOF:
// every result was taken; an error wrapping ErrTimeout: none came in time.
func (p *ClusterPool) Take(job uint64, ordered bool, timeout time.Duration) (*cluster.Result, error) {
	p.mu.Lock()
	r := p.taken[job]
	p.mu.Unlock()
	if r != nil {
		return r, nil
	}
	ctx, cancel := WaitContext(timeout)
	defer cancel()
	r, err := p.Caller.Take(ctx, job, ordered)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.taken[job] = r
	p.mu.Unlock()
	return r, nil
}

// Fill copies the body of the result Take holds for job into dst, which must be its
// size, releases it and returns its chunk index.
func (p *ClusterPool) Fill(job uint64, dst []byte) (chunk uint32, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.taken[job]
	if r == nil || len(r.Body) != len(dst) {
		return 0, badInput("no result taken, or size %d is wrong", len(dst))
	}
	copy(dst, r.Body)
	delete(p.taken, job)
	return r.Chunk, nil
}

// DropJob forgets a job and its results.
func (p *ClusterPool) DropJob(job uint64) {
	p.Caller.DropJob(job)
	p.mu.Lock()
	delete(p.taken, job)
	p.mu.Unlock()
}

// Close closes the caller (with terminate: failing every chunk without a result first)
// within 20 s, then the connection. Results already in can still be taken.
func (p *ClusterPool) Close(terminate bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	if terminate {
		err = p.Caller.Terminate(ctx)
	} else {
		err = p.Caller.Close(ctx)
	}
	p.conn.Close()
	return err
}

// ClusterQueue is a named queue's connection, with the items each getter (a Python
// thread, by its ident) took and has not copied out yet.
type ClusterQueue struct {
	conn  *cluster.Conn
	Queue *cluster.Queue
	mu    sync.Mutex
	taken map[int64][]byte
}

// OpenClusterQueue opens (creating if needed) the named queue spec describes.
func OpenClusterQueue(spec string) (*ClusterQueue, error) {
	s, err := ParseClusterSpec(spec)
	if err != nil {
		return nil, err
	}
	cq := &ClusterQueue{taken: map[int64][]byte{}}
	cq.conn, err = s.connect(cluster.Options{Name: "gompx queue " + s.Name}, func(ctx context.Context, conn *cluster.Conn) (err error) {
		cq.Queue, err = cluster.OpenQueue(ctx, conn, cluster.QueueOptions{Name: s.Name, MaxSize: s.MaxSize, Joinable: s.Joinable})
		return err
	})
	if err != nil {
		return nil, err
	}
	return cq, nil
}

// Close closes the queue and its connection.
func (cq *ClusterQueue) Close() {
	cq.Queue.Close()
	cq.conn.Close()
}

// Put adds the items framed in framed (each a 4-byte big-endian length, then the item)
// in order, waiting up to timeout (0: not at all, negative: no limit) while the queue is
// full. It returns how many went in: fewer than given means the queue stayed full.
func (cq *ClusterQueue) Put(framed []byte, timeout time.Duration) (added int, err error) {
	items, err := Unframe(framed)
	if err != nil {
		return 0, err
	}
	ctx, cancel := WaitContext(timeout)
	defer cancel()
	if timeout == 0 {
		for _, it := range items {
			if err = cq.Queue.TryPut(ctx, it); err != nil {
				break
			}
			added++
		}
	} else {
		added, err = cq.Queue.PutMany(ctx, items)
	}
	if errors.Is(err, cluster.ErrFull) {
		return added, nil
	}
	return added, err
}

// Get takes up to maxItems items (at least one), waiting up to timeout (0: not at all,
// negative: no limit) for the first, and holds them framed for Fill with the same key.
// It returns their framed size, or -1 if none came.
func (cq *ClusterQueue) Get(key int64, maxItems int, timeout time.Duration) (size int, err error) {
	ctx, cancel := WaitContext(timeout)
	defer cancel()
	var items [][]byte
	if timeout == 0 {
		var it []byte
		if it, err = cq.Queue.TryGet(ctx); err == nil {
			items = [][]byte{it}
		}
	} else {
		items, err = cq.Queue.GetMany(ctx, max(maxItems, 1))
	}
	if errors.Is(err, cluster.ErrEmpty) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	buf := Frame(items)
	cq.mu.Lock()
	cq.taken[key] = buf
	cq.mu.Unlock()
	return len(buf), nil
}

// Fill copies the items Get holds for key into dst, which must be their framed size.
func (cq *ClusterQueue) Fill(key int64, dst []byte) error {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	buf, found := cq.taken[key]
	if !found || len(buf) != len(dst) {
		return badInput("no items taken, or size %d is wrong", len(dst))
	}
	copy(dst, buf)
	delete(cq.taken, key)
	return nil
}

// Frame joins items, each after its 4-byte big-endian length.
func Frame(items [][]byte) []byte {
	total := 0
	for _, it := range items {
		total += 4 + len(it)
	}
	buf := make([]byte, 0, total)
	for _, it := range items {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(it)))
		buf = append(buf, it...)
	}
	return buf
}

// Unframe copies the items out of what Frame made (the caller's memory is not kept).
func Unframe(b []byte) ([][]byte, error) {
	var items [][]byte
	for len(b) > 0 {
		if len(b) < 4 || len(b)-4 < int(binary.BigEndian.Uint32(b)) {
			return nil, badInput("bad framing")
		}
		n := int(binary.BigEndian.Uint32(b))
		items = append(items, append([]byte(nil), b[4:4+n]...))
		b = b[4+n:]
	}
	return items, nil
}

// IsEnd reports the error of a Take after the last result.
func IsEnd(err error) bool { return errors.Is(err, io.EOF) }

// StartLocal starts the private cluster spec describes (JSON: command, the gompx
// program; python; processes; authkey, hex; env, a list of "K=V"; dir; ack_wait_ms):
// `gompx server` on 127.0.0.1 and one `gompx worker`, within 60 s.
func StartLocal(spec string) (*cluster.Local, error) {
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
		return nil, badInput("bad local cluster spec: %v", err)
	}
	key, err := hex.DecodeString(s.Authkey)
	if err != nil {
		return nil, badInput("authkey is not hex: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return cluster.StartLocal(ctx, cluster.LocalOptions{Command: s.Command, Python: s.Python,
		Processes: s.Processes, Authkey: key, Env: s.Env, Dir: s.Dir, AckWait: ms(s.AckWaitMs)})
}

// The process's private server for named queues with cluster="local": started on first
// use, it lives as long as the process (its children reach it through the URL, which
// Python puts in their environment).
var localQueues struct {
	sync.Mutex
	l *cluster.Local
}

// LocalServerURL returns the URL of this process's private `gompx server` on 127.0.0.1,
// starting it (command is the gompx program) on first use.
func LocalServerURL(command string) (string, error) {
	localQueues.Lock()
	defer localQueues.Unlock()
	if localQueues.l == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		l, err := cluster.StartLocalServer(ctx, command)
		if err != nil {
			return "", err
		}
		localQueues.l = l
	}
	return localQueues.l.URL(), nil
}
