package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestInspect(t *testing.T) {
	c := startThreeNodes(t, nil, nil)
	connect(t, c.url(0), testKey, replicated) // creates the R3 streams
	checkFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// No authkey: inspecting signs nothing.
		streams, err := Inspect(ctx, Options{URL: c.url(1)})
		if err != nil {
			return err
		}
		for _, s := range streams {
			if s.Name != TasksStream {
				continue
			}
			if s.Leader == "" {
				return fmt.Errorf("%s has no leader yet", s.Name)
			}
			names := map[string]bool{s.Leader: true}
			for _, r := range s.Replicas {
				if !r.Current || r.Offline {
					return fmt.Errorf("%s: replica %+v not current", s.Name, r)
				}
				names[r.Name] = true
			}
			if len(names) != 3 || !names["n1"] || !names["n2"] || !names["n3"] {
				return fmt.Errorf("%s: leader and replicas %v, want n1, n2, n3", s.Name, names)
			}
			if s.Consumers != 1 {
				return fmt.Errorf("%s: %d consumers, want the workers' one", s.Name, s.Consumers)
			}
			return nil
		}
		return fmt.Errorf("no %s in %+v", TasksStream, streams)
	})
}

func TestInspectRefusals(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want error
	}{
		// Refused before any packet is sent: nothing leaves the machine.
		{"remote without credentials", "nats://192.0.2.1:4222", ErrInsecure},
		{"nobody listening", fmt.Sprintf("nats://127.0.0.1:%d", freePort(t, "127.0.0.1")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := Inspect(ctx, Options{URL: tt.url})
			if err == nil {
				t.Fatal("Inspect succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
