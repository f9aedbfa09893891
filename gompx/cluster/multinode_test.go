package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/cluster/natsnode"
	"github.com/nats-io/nats.go/jetstream"
)

// freePort returns a TCP port free on host at the time of asking.
func freePort(t *testing.T, host string) int {
	t.Helper()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		if promisePort(port) {
			return port
		}
	}
}

// promised holds the ports freePort handed out: free until their server binds them, so
// the kernel may give them to the next listener on port 0 (a test's proxy, say), and
// freePort and the proxies take them no more.
var promised = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// promisePort records port as handed out; false if it already was.
func promisePort(port int) bool {
	promised.Lock()
	defer promised.Unlock()
	if promised.ports[port] {
		return false
	}
	promised.ports[port] = true
	return true
}

// isPromised reports whether freePort handed port out.
func isPromised(port int) bool {
	promised.Lock()
	defer promised.Unlock()
	return promised.ports[port]
}

// startThree runs a 3-node cluster on 127.0.0.1, .2 and .3 (free ports).
func startThree(t *testing.T) []*natsnode.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var hosts, routes []string
	var ports []int
	for i := range 3 {
		host := fmt.Sprintf("127.0.0.%d", i+1)
		port := freePort(t, host)
		hosts, ports = append(hosts, host), append(ports, port)
		routes = append(routes, fmt.Sprintf("nats-route://%s:%d", host, port))
	}
	var nodes []*natsnode.Node
	for i := range 3 {
		n, err := natsnode.Start(ctx, natsnode.Options{Host: hosts[i], StoreDir: t.TempDir(),
			Name: fmt.Sprintf("n%d", i+1), ClusterName: "gompx-test", ClusterPort: ports[i], Routes: routes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Shutdown)
		nodes = append(nodes, n)
	}
	return nodes
}

func urls(nodes []*natsnode.Node) string {
	var u []string
	for _, n := range nodes {
		u = append(u, n.ClientURL())
	}
	return strings.Join(u, ",")
}

// TestThreeNodesLoseTheStreamLeader shuts the node leading GOMPX_TASKS down mid-run:
// every chunk has a result, each counted once.
func TestThreeNodesLoseTheStreamLeader(t *testing.T) {
	nodes := startThree(t)
	opts := func(o *Options) { o.Replicas = 3; o.AckWait = 2 * time.Second }
	caller := connect(t, urls(nodes), testKey, opts)
	ran := &runs{}
	for i, n := range nodes {
		serve(t, connect(t, n.ClientURL(), testKey, opts), fmt.Sprintf("w%d", i+1), 2, ran.echo(20*time.Millisecond))
	}
	ctx, k := newTestCallerFor(t, caller, 120*time.Second)
	const n = 300
	job, _ := k.NewJob()
	for i := range n {
		if err := k.Submit(ctx, job, uint32(i), "m:f", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	k.SetLength(job, n)
	for i := range n {
		if i == 50 {
			s, err := caller.js.Stream(ctx, TasksStream)
			if err != nil {
				t.Fatal(err)
			}
			leader := s.CachedInfo().Cluster.Leader
			found := false
			for j, node := range nodes {
				if leader == fmt.Sprintf("n%d", j+1) {
					node.Shutdown()
					found = true
				}
			}
			if !found {
				t.Fatalf("no node is the stream's leader %q", leader)
			}
		}
		r, err := k.Take(ctx, job, true)
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		if r.Chunk != uint32(i) || r.Status != StatusOK || string(r.Body) != fmt.Sprint(i) {
			t.Fatalf("result %d: chunk %d %s %q", i, r.Chunk, r.Status, r.Body)
		}
	}
	if _, err := k.Take(ctx, job, true); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last result: %v", err)
	}
	if got := ran.distinct(); got != n {
		t.Fatalf("%d chunks ran, want %d", got, n)
	}
}

// TestServerDisappears: the only server goes away; a waiting Take fails, it does not hang.
func TestServerDisappears(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := natsnode.Start(ctx, natsnode.Options{Host: "127.0.0.1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, node.ClientURL(), testKey, func(o *Options) { o.ReconnectFor = time.Second })
	k, err := NewCaller(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	job, _ := k.NewJob()
	k.Submit(ctx, job, 0, "m:f", []byte("x"))
	k.SetLength(job, 1)
	<-c.js.PublishAsyncComplete() // the task is stored: no publish error stands in for the loss
	node.Shutdown()
	_, err = k.Take(ctx, job, true)
	if err == nil || !strings.Contains(err.Error(), "gompx: lost the cluster") {
		t.Fatalf("Take: %v", err)
	}
	if _, err := c.js.Stream(ctx, TasksStream); !isClosed(err) && !errors.Is(err, jetstream.ErrJetStreamNotEnabled) && err == nil {
		t.Fatalf("stream lookup on a dead server succeeded")
	}
}
