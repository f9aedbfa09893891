package cluster

import (
	"context"
	"sort"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamStatus is one JetStream stream as Inspect sees it: enough to tell which node
// leads it and whether its other replicas are current before a node is taken down.
type StreamStatus struct {
	Name      string          `json:"name"`
	Leader    string          `json:"leader"` // the leading server's name; "" while an election runs
	Replicas  []ReplicaStatus `json:"replicas"`
	Messages  uint64          `json:"messages"`
	Consumers int             `json:"consumers"`
}

// ReplicaStatus is a stream replica other than the leader.
type ReplicaStatus struct {
	Name    string `json:"name"`
	Current bool   `json:"current"` // caught up with the leader
	Offline bool   `json:"offline"` // its server is unreachable
	Lag     uint64 `json:"lag"`     // operations behind the leader
}

// Inspect reports every stream of the cluster at opts.URL, sorted by name. Unlike
// Connect it needs no authkey and creates nothing: it only reads, so an operator can
// point it at a cluster that is not theirs to change.
func Inspect(ctx context.Context, opts Options) ([]StreamStatus, error) {
	opts.fromEnv()
	nc, err := dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, errs.Errorf("gompx: jetstream: %w", err)
	}
	var out []StreamStatus
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		s := StreamStatus{Name: info.Config.Name, Messages: info.State.Msgs, Consumers: info.State.Consumers}
		if c := info.Cluster; c != nil {
			s.Leader = c.Leader
			for _, p := range c.Replicas {
				s.Replicas = append(s.Replicas, ReplicaStatus{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag})
			}
		}
		out = append(out, s)
	}
	if err := streams.Err(); err != nil {
		return nil, errs.Errorf("gompx: list streams at %s: %w", opts.URL, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
