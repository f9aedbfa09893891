package cluster

// Fault tests in nats-server's manner (server/server_test.go's checkFor,
// server/routes_test.go's checkClusterFormed): real servers on 127.0.0.1-3, real
// processes killed with SIGKILL, conditions polled with a bound, never timed.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/cluster/natsnode"
)

// The test binary is a gompx worker machine when GOMPX_CLUSTER_TEST_WORKER names a
// server: it runs each chunk by creating DIR/<body> and then sleeping until killed.
func TestMain(m *testing.M) {
	if url := os.Getenv("GOMPX_CLUSTER_TEST_WORKER"); url != "" {
		os.Exit(workerMachine(url, os.Getenv("GOMPX_CLUSTER_TEST_DIR")))
	}
	os.Exit(m.Run())
}

func workerMachine(url, dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, err := Connect(ctx, Options{URL: url, Authkey: testKey})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = Serve(context.Background(), c, WorkerOptions{Name: "doomed"}, func(ctx context.Context, fn string, body []byte) (Status, []byte) {
		if err := os.WriteFile(filepath.Join(dir, string(body)), nil, 0o600); err != nil {
			return StatusFail, []byte(err.Error())
		}
		<-ctx.Done() // until SIGKILL
		return StatusOK, []byte("from the doomed machine")
	})
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// checkFor calls f every sleep until it returns nil, and fails the test with its
// last error after total.
func checkFor(t testing.TB, total, sleep time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(sleep)
	}
}

// checkClusterFormed waits until every node routes to every other.
func checkClusterFormed(t testing.TB, nodes ...*natsnode.Node) {
	t.Helper()
	checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		for _, n := range nodes {
			var want []string
			for _, o := range nodes {
				if o != n {
					want = append(want, o.Name())
				}
			}
			slices.Sort(want)
			if got := n.RoutedPeers(); !slices.Equal(got, want) {
				return fmt.Errorf("node %s routes to %v, want %v", n.Name(), got, want)
			}
		}
		return nil
	})
}

// checkReplicasCurrent waits until every node holds a current replica of stream.
func checkReplicasCurrent(t testing.TB, c *Conn, stream string, names ...string) {
	t.Helper()
	checkFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := c.js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		ci := s.CachedInfo().Cluster
		current := map[string]bool{ci.Leader: ci.Leader != ""}
		for _, r := range ci.Replicas {
			current[r.Name] = r.Current && !r.Offline
		}
		for _, n := range names {
			if !current[n] {
				return fmt.Errorf("stream %s: %s holds no current replica (leader %q, replicas %+v)", stream, n, ci.Leader, ci.Replicas)
			}
		}
		return nil
	})
}

// serveStoppable runs a worker until stop is called (or the test ends).
func serveStoppable(t testing.TB, c *Conn, name string, slots int, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, c, WorkerOptions{Slots: slots, Name: name}, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve %s: %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// runs counts each chunk body's runs, for handlers that echo their body.
type runs struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *runs) echo(delay time.Duration) Handler {
	return func(ctx context.Context, fn string, body []byte) (Status, []byte) {
		r.mu.Lock()
		if r.n == nil {
			r.n = map[string]int{}
		}
		r.n[string(body)]++
		r.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		return StatusOK, body
	}
}

func (r *runs) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.n)
}

// submitN submits chunks 0..n-1 of a new job, each with its decimal index as body.
func submitN(t testing.TB, ctx context.Context, k *Caller, n int) uint64 {
	t.Helper()
	job, err := k.NewJob()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := k.Submit(ctx, job, uint32(i), "m:f", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.SetLength(job, n); err != nil {
		t.Fatal(err)
	}
	return job
}

// takeAll takes the job's n results in order, calling at(i) before taking result i,
// and checks each is chunk i's echo, once; then EOF. It returns how many results each
// worker gave.
func takeAll(t testing.TB, ctx context.Context, k *Caller, job uint64, n int, at func(i int)) map[string]int {
	t.Helper()
	by := map[string]int{}
	for i := range n {
		if at != nil {
			at(i)
		}
		r, err := k.Take(ctx, job, true)
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		if r.Chunk != uint32(i) || r.Status != StatusOK || string(r.Body) != fmt.Sprint(i) {
			t.Fatalf("result %d: chunk %d %s %q", i, r.Chunk, r.Status, r.Body)
		}
		by[r.Worker]++
	}
	if _, err := k.Take(ctx, job, true); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last result: %v", err)
	}
	return by
}

// TestWorkerMachineKilled: a gompx worker machine (this test binary, re-executed) is
// SIGKILLed while it runs a chunk; the chunk is redelivered after the ack wait to
// another worker, and its result arrives once.
func TestWorkerMachineKilled(t *testing.T) {
	url := startNode(t)
	short := func(o *Options) { o.AckWait = time.Second }
	caller := connect(t, url, testKey, short) // creates the consumer with the short ack wait
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GOMPX_CLUSTER_TEST_WORKER="+url, "GOMPX_CLUSTER_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	ctx, k := newTestCaller(t, caller)
	job := submitN(t, ctx, k, 1)
	checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if _, err := os.Stat(filepath.Join(dir, "0")); err != nil {
			return fmt.Errorf("the doomed worker machine never ran the chunk: %w", err)
		}
		return nil
	})
	var r runs
	serveStoppable(t, connect(t, url, testKey, short), "survivor", 1, r.echo(0))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the worker machine: %v", err)
	}
	got := collect(t, ctx, k, job, true)
	if len(got) != 1 || got[0].Worker != "survivor" || string(got[0].Body) != "0" || r.distinct() != 1 {
		t.Fatalf("got %+v after %d runs", got, r.distinct())
	}
	if dups, forged := k.Stats(); dups != 0 || forged != 0 {
		t.Fatalf("%d duplicates, %d forged results", dups, forged)
	}
}

// threeNodes is a 3-node cluster on 127.0.0.1-3 whose nodes can be stopped and
// started again on the same ports and stores.
type threeNodes struct {
	t     *testing.T
	opts  []natsnode.Options
	nodes []*natsnode.Node
}

// startThreeNodes starts the cluster; route(i, j), if set, gives the route URL node i
// uses for node j, and advertise(i) the address node i gives the others.
func startThreeNodes(t *testing.T, route func(i, j int, addr string) string, advertise func(i int, addr string) string) *threeNodes {
	t.Helper()
	c := &threeNodes{t: t}
	var addrs []string
	for i := range 3 {
		host := fmt.Sprintf("127.0.0.%d", i+1)
		addrs = append(addrs, net.JoinHostPort(host, fmt.Sprint(freePort(t, host))))
	}
	for i := range 3 {
		host, cport, _ := net.SplitHostPort(addrs[i])
		var port, clusterPort int
		fmt.Sscan(cport, &clusterPort)
		port = freePort(t, host)
		o := natsnode.Options{Host: host, Port: port, StoreDir: t.TempDir(), Name: fmt.Sprintf("n%d", i+1),
			ClusterName: "gompx-faults", ClusterPort: clusterPort}
		for j := range 3 {
			if j == i {
				continue
			}
			r := addrs[j]
			if route != nil {
				r = route(i, j, addrs[j])
			}
			o.Routes = append(o.Routes, "nats-route://"+r)
		}
		if advertise != nil {
			o.ClusterAdvertise = advertise(i, addrs[i])
		}
		c.opts = append(c.opts, o)
		c.nodes = append(c.nodes, nil)
	}
	for i := range 3 {
		c.start(i)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n != nil {
				n.Shutdown()
			}
		}
	})
	checkClusterFormed(t, c.nodes...)
	return c
}

func (c *threeNodes) start(i int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := natsnode.Start(ctx, c.opts[i])
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = n
}

func (c *threeNodes) stop(i int) {
	c.nodes[i].Shutdown()
}

// url lists the nodes' client URLs, node first first.
func (c *threeNodes) url(first int) string {
	var u []string
	for k := range 3 {
		u = append(u, c.nodes[(first+k)%3].ClientURL())
	}
	return strings.Join(u, ",")
}

// leaderOf returns the index of the node leading stream, once one does.
func (c *threeNodes) leaderOf(t testing.TB, conn *Conn, stream string) int {
	t.Helper()
	leader := -1
	checkFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		streams, err := Inspect(ctx, Options{URL: conn.opts.URL})
		if err != nil {
			return err
		}
		for _, s := range streams {
			if s.Name != stream {
				continue
			}
			for i, o := range c.opts {
				if o.Name == s.Leader {
					leader = i
					return nil
				}
			}
			return fmt.Errorf("no node leads %s (%q)", stream, s.Leader)
		}
		return fmt.Errorf("no stream %s", stream)
	})
	return leader
}

// replicated: R3 streams, a short ack wait.
func replicated(o *Options) { o.Replicas = 3; o.AckWait = 2 * time.Second }

// replicatedSlow: R3 streams, an ack wait longer than the elections a partition
// brings on this shared machine (a chunk whose progress acks and answer wait for a
// new leader can spend its three deliveries on one election, and fail, as designed).
func replicatedSlow(o *Options) { o.Replicas = 3; o.AckWait = 6 * time.Second }

// TestThreeNodesLoseANodeThenItRejoins stops a node that does not lead GOMPX_TASKS
// mid-run (its workers reconnect elsewhere): every chunk has its result, once. The
// node starts again on its store, rejoins, catches up, and its own worker alone then
// runs a job.
func TestThreeNodesLoseANodeThenItRejoins(t *testing.T) {
	c := startThreeNodes(t, nil, nil)
	caller := connect(t, c.url(0), testKey, replicated)
	var r runs
	var stops []func()
	for i := range 3 {
		stops = append(stops, serveStoppable(t, connect(t, c.url(i), testKey, replicated), fmt.Sprintf("w%d", i+1), 2, r.echo(20*time.Millisecond)))
	}
	ctx, k := newTestCallerFor(t, caller, 180*time.Second)
	const n = 200
	victim := (c.leaderOf(t, caller, TasksStream) + 1) % 3
	job := submitN(t, ctx, k, n)
	takeAll(t, ctx, k, job, n, func(i int) {
		if i == 40 {
			c.stop(victim)
		}
	})
	if r.distinct() != n {
		t.Fatalf("%d chunks ran, want %d", r.distinct(), n)
	}

	c.start(victim)
	checkClusterFormed(t, c.nodes...)
	checkReplicasCurrent(t, caller, TasksStream, "n1", "n2", "n3")
	checkReplicasCurrent(t, caller, ResultsStream, "n1", "n2", "n3")
	for i, stop := range stops {
		if i != victim {
			stop()
		}
	}
	// The victim's first worker moved to another node during the outage: a worker
	// that knows only the rejoined node runs the next job alone.
	stops[victim]()
	serveStoppable(t, connect(t, c.nodes[victim].ClientURL(), testKey, replicated), "rejoined", 2, (&runs{}).echo(0))
	if by := takeAll(t, ctx, k, submitN(t, ctx, k, 20), 20, nil); by["rejoined"] != 20 {
		t.Fatalf("results by worker %v, want all 20 from the rejoined node's", by)
	}
}
