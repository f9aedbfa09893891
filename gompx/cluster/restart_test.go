package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/cluster/natsnode"
)

// restartable is a 3-node cluster on 127.0.0.1-3 with fixed ports and stores, so that a
// node stopped (its routes and clients cut) can come back as itself.
type restartable struct {
	opts  []natsnode.Options
	nodes []*natsnode.Node
}

func startRestartable(t *testing.T) *restartable {
	t.Helper()
	r := &restartable{}
	var routes []string
	for i := range 3 {
		host := fmt.Sprintf("127.0.0.%d", i+1)
		cport := freePort(t, host)
		routes = append(routes, fmt.Sprintf("nats-route://%s:%d", host, cport))
		r.opts = append(r.opts, natsnode.Options{Host: host, Port: freePort(t, host), StoreDir: t.TempDir(),
			Name: fmt.Sprintf("n%d", i+1), ClusterName: "gompx-test", ClusterPort: cport})
	}
	r.nodes = make([]*natsnode.Node, 3)
	for i := range r.opts {
		r.opts[i].Routes = routes
		r.start(t, i)
	}
	t.Cleanup(func() {
		for _, n := range r.nodes {
			if n != nil {
				n.Shutdown()
			}
		}
	})
	return r
}

func (r *restartable) start(t *testing.T, i int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := natsnode.Start(ctx, r.opts[i])
	if err != nil {
		t.Fatal(err)
	}
	r.nodes[i] = n
}

func (r *restartable) url(i int) string {
	return fmt.Sprintf("nats://%s:%d", r.opts[i].Host, r.opts[i].Port)
}

// TestThreeNodesStopAndRestartANode cuts node 3 off (stopped: its routes and its
// worker's connection go) mid-job, then brings it back with its store: the job's every
// chunk has its one result, in order, and the worker attached to node 3 alone takes
// work again.
func TestThreeNodesStopAndRestartANode(t *testing.T) {
	r := startRestartable(t)
	all := r.url(0) + "," + r.url(1) + "," + r.url(2)
	opts := func(o *Options) { o.Replicas = 3; o.AckWait = 3 * time.Second; o.ReconnectFor = 2 * time.Minute }
	caller := connect(t, all, testKey, opts)
	handler := (&runs{}).echo(20 * time.Millisecond)
	serve(t, connect(t, r.url(0), testKey, opts), "w1", 2, handler)
	serve(t, connect(t, r.url(2), testKey, opts), "w3", 2, handler)
	ctx, k := newTestCallerFor(t, caller, 3*time.Minute)
	const n = 90
	job, _ := k.NewJob()
	for i := range n {
		if err := k.Submit(ctx, job, uint32(i), "m:f", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	k.SetLength(job, n)
	for i := range n {
		switch i {
		case 20:
			r.nodes[2].Shutdown()
		case 50:
			r.start(t, 2)
		}
		res, err := k.Take(ctx, job, true)
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		if res.Chunk != uint32(i) || res.Status != StatusOK || string(res.Body) != fmt.Sprint(i) {
			t.Fatalf("result %d: chunk %d %s %q", i, res.Chunk, res.Status, res.Body)
		}
	}
	if dup, forged := k.Stats(); forged != 0 || dup > n {
		t.Fatalf("duplicates %d, forged %d", dup, forged)
	}
	// Node 3 is back: its worker answers chunks again (bounded: 30 jobs).
	for round := range 30 {
		job, _ := k.NewJob()
		for i := range 20 {
			k.Submit(ctx, job, uint32(i), "m:f", []byte(fmt.Sprintf("r%d-%d", round, i)))
		}
		k.SetLength(job, 20)
		for range 20 {
			res, err := k.Take(ctx, job, false)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if res.Worker == "w3" {
				return
			}
		}
	}
	t.Fatal("the worker on the restarted node took no work")
}
