package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/cluster/natsnode"
)

// TestRouteTLS: nodes whose routes use TLS with certificates of one CA form a cluster
// and JetStream works across it (an item put through one node is taken through the
// other, replicated on both); a node whose route certificate another CA signed, and
// a node without route TLS, are refused by both and form no route.
func TestRouteTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := newCA(t, dir, "route-ca"), newCA(t, dir, "other-route-ca")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 4
	var routes []string
	var ports []int
	for range n {
		port := freePort(t, "127.0.0.1")
		ports = append(ports, port)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", port))
	}
	var nodes []*natsnode.Node
	var routeTLS *tls.Config
	for i := range n {
		signer := ca
		if i == 2 {
			signer = other
		}
		// r0 and r1 are the cluster (its JetStream quorum); the others knock at their doors.
		o := natsnode.Options{Host: "127.0.0.1", StoreDir: t.TempDir(), Name: fmt.Sprintf("r%d", i),
			ClusterName: "gompx-route-tls", ClusterPort: ports[i], Routes: routes[:2]}
		if i >= 2 {
			o.Routes = append(routes[:2:2], routes[i])
		}
		if i != 3 { // r3: no route TLS at all
			_, cert, key := signer.issue(t, dir, o.Name, x509.ExtKeyUsageAny)
			cfg, err := natsnode.RouteTLSFromFiles(cert, key, ca.file)
			if err != nil {
				t.Fatal(err)
			}
			o.RouteTLS, routeTLS = cfg, cfg
		}
		node, err := natsnode.Start(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(node.Shutdown)
		nodes = append(nodes, node)
	}
	for !slices.Equal(nodes[0].RoutedPeers(), []string{"r1"}) || !slices.Equal(nodes[1].RoutedPeers(), []string{"r0"}) ||
		!nodes[0].JetStreamReady() {
		if ctx.Err() != nil {
			t.Fatalf("no TLS route between r0 and r1: r0 %v, r1 %v", nodes[0].RoutedPeers(), nodes[1].RoutedPeers())
		}
		time.Sleep(50 * time.Millisecond)
	}
	put := connect(t, nodes[0].ClientURL(), testKey, func(o *Options) { o.Replicas = 2 })
	get := connect(t, nodes[1].ClientURL(), testKey, func(o *Options) { o.Replicas = 2 })
	if err := openQueue(t, put, QueueOptions{Name: "routes"}).Put(ctx, []byte("across")); err != nil {
		t.Fatal(err)
	}
	if it, err := openQueue(t, get, QueueOptions{Name: "routes"}).Get(ctx); err != nil || string(it) != "across" {
		t.Fatalf("Get through r1 = %q, %v", it, err)
	}
	if _, err := natsnode.Start(ctx, natsnode.Options{StoreDir: t.TempDir(), RouteTLS: routeTLS}); err == nil ||
		!strings.Contains(err.Error(), "RouteTLS is for a clustered node") {
		t.Errorf("route TLS on an unclustered node: %v, want a refusal", err)
	}
	// The refused nodes have retried their routes many times by now.
	for i, node := range nodes {
		peers := node.RoutedPeers()
		if (i >= 2 && len(peers) != 0) || (i < 2 && len(peers) != 1) {
			t.Errorf("r%d has routes to %v: a node without the CA's route certificate got in", i, peers)
		}
	}
}
