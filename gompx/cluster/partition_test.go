package cluster

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// link is a TCP proxy on loopback that a test can cut (every connection through it
// closed, new ones refused) and heal: a route between two nodes that a partition
// takes away.
type link struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newLink(t testing.TB, host, target string) *link {
	t.Helper()
	var l net.Listener
	var refused []net.Listener // held until a port no server was promised comes
	for l == nil {
		got, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		if isPromised(got.Addr().(*net.TCPAddr).Port) {
			refused = append(refused, got)
			continue
		}
		l = got
	}
	for _, r := range refused {
		r.Close()
	}
	k := &link{l: l, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { l.Close(); k.setCut(true) })
	go k.serve()
	return k
}

func (k *link) addr() string { return k.l.Addr().String() }

func (k *link) serve() {
	for {
		in, err := k.l.Accept()
		if err != nil {
			return
		}
		go k.splice(in)
	}
}

// splice joins in to the target until either side closes or the link is cut.
func (k *link) splice(in net.Conn) {
	out, err := net.DialTimeout("tcp", k.target, 5*time.Second)
	if err != nil {
		in.Close()
		return
	}
	k.mu.Lock()
	if k.cut {
		k.mu.Unlock()
		in.Close()
		out.Close()
		return
	}
	k.conns[in], k.conns[out] = true, true
	k.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(out, in); done <- struct{}{} }()
	go func() { io.Copy(in, out); done <- struct{}{} }()
	<-done
	k.mu.Lock()
	delete(k.conns, in)
	delete(k.conns, out)
	k.mu.Unlock()
	in.Close()
	out.Close()
}

func (k *link) setCut(cut bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cut = cut
	if cut {
		for c := range k.conns {
			c.Close()
		}
	}
}

// TestPartitionHeals cuts every route of the node leading GOMPX_TASKS mid-run
// (through proxies: each node reaches each other through its own link, and
// advertises a link of its own for the routes it learns by gossip). The majority
// elects a new leader and finishes the job, each result once; the chunks the cut-off
// node's worker held come back after the ack wait. Healed, the node rejoins, catches
// up, and its worker alone runs the next job.
func TestPartitionHeals(t *testing.T) {
	var mu sync.Mutex
	routes := map[[2]int]*link{}
	var advertised []*link
	c := startThreeNodes(t, func(i, j int, addr string) string {
		l := newLink(t, fmt.Sprintf("127.0.0.%d", i+1), addr)
		mu.Lock()
		routes[[2]int{i, j}] = l
		mu.Unlock()
		return l.addr()
	}, func(i int, addr string) string {
		l := newLink(t, fmt.Sprintf("127.0.0.%d", i+1), addr)
		advertised = append(advertised, l)
		return l.addr()
	})
	partition := func(victim int, cut bool) {
		for ij, l := range routes {
			if ij[0] == victim || ij[1] == victim {
				l.setCut(cut)
			}
		}
		for _, l := range advertised { // gossiped routes: their origin is unknown
			l.setCut(cut)
		}
	}

	t0 := time.Now()
	setup := connect(t, c.nodes[0].ClientURL(), testKey, replicatedSlow)
	victim := c.leaderOf(t, setup, TasksStream)
	caller := connect(t, c.nodes[(victim+1)%3].ClientURL(), testKey, replicatedSlow)
	var r runs
	var stops []func()
	for i := range 3 {
		stops = append(stops, serveStoppable(t, connect(t, c.nodes[i].ClientURL(), testKey, replicatedSlow),
			fmt.Sprintf("w%d", i+1), 2, r.echo(20*time.Millisecond)))
	}
	ctx, k := newTestCallerFor(t, caller, 180*time.Second)
	const n = 200
	job := submitN(t, ctx, k, n)
	takeAll(t, ctx, k, job, n, func(i int) {
		if i == 40 {
			partition(victim, true)
			checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
				if p := c.nodes[victim].RoutedPeers(); len(p) != 0 {
					return fmt.Errorf("the cut-off node still routes to %v", p)
				}
				return nil
			})
		}
	})
	t.Logf("finished the job at %v", time.Since(t0))
	if r.distinct() != n {
		t.Fatalf("%d chunks ran, want %d", r.distinct(), n)
	}
	if got := c.leaderOf(t, caller, TasksStream); got == victim {
		t.Fatalf("the cut-off node n%d still leads %s", victim+1, TasksStream)
	}

	partition(victim, false)
	checkClusterFormed(t, c.nodes...)
	t.Logf("formed at %v", time.Since(t0))
	checkReplicasCurrent(t, caller, TasksStream, "n1", "n2", "n3")
	checkReplicasCurrent(t, caller, ResultsStream, "n1", "n2", "n3")
	t.Logf("current at %v", time.Since(t0))
	for i, stop := range stops {
		if i != victim {
			stop()
		}
	}
	t.Logf("stopped at %v", time.Since(t0))
	if by := takeAll(t, ctx, k, submitN(t, ctx, k, 20), 20, nil); by[fmt.Sprintf("w%d", victim+1)] != 20 {
		t.Fatalf("results by worker %v, want all 20 from the healed node's w%d", by, victim+1)
	}
	t.Logf("done at %v", time.Since(t0))
}

// TestCallerReconnects: the server the caller is connected to stops mid-run; the
// client reconnects to another node (nats.go's reconnect, over the URL list) and
// every result arrives, once.
func TestCallerReconnects(t *testing.T) {
	c := startThreeNodes(t, nil, nil)
	caller := connect(t, c.url(0), testKey, replicated)
	for i := range 3 {
		serveStoppable(t, connect(t, c.url(i), testKey, replicated), fmt.Sprintf("w%d", i+1), 2, (&runs{}).echo(20*time.Millisecond))
	}
	ctx, k := newTestCallerFor(t, caller, 180*time.Second)
	const n = 200
	job := submitN(t, ctx, k, n)
	<-caller.js.PublishAsyncComplete()
	was := caller.nc.ConnectedUrl()
	takeAll(t, ctx, k, job, n, func(i int) {
		if i == 40 {
			for j, node := range c.nodes {
				if node.ClientURL() == was {
					c.stop(j)
				}
			}
		}
	})
	if now := caller.nc.ConnectedUrl(); now == was || now == "" || caller.nc.Stats().Reconnects == 0 {
		t.Fatalf("connected to %q before, %q now, after %d reconnects", was, now, caller.nc.Stats().Reconnects)
	}
	if _, forged := k.Stats(); forged != 0 {
		t.Fatalf("%d forged results", forged)
	}
}
