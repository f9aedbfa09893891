package gompxcore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
	"github.com/gompx/gompx/gompx/cluster/natsnode"
)

func clusterSpecJSON(t *testing.T, url string, key []byte, extra map[string]any) string {
	t.Helper()
	m := map[string]any{"url": url, "authkey": hex.EncodeToString(key)}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClusterRoundTrip drives a pool through the facade as Python does: submit by
// address, take a packed status and size, fill a caller buffer.
func TestClusterRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := natsnode.Start(ctx, natsnode.Options{Host: "127.0.0.1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Shutdown()
	key := []byte("facade key")
	wconn, err := cluster.Connect(ctx, cluster.Options{URL: node.ClientURL(), Authkey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer wconn.Close()
	wctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- cluster.Serve(wctx, wconn, cluster.WorkerOptions{Slots: 2},
			func(_ context.Context, fn string, body []byte) (cluster.Status, []byte) {
				if string(body) == "crash" {
					return cluster.StatusLost, []byte("worker 1 exited with code -9 while running this task")
				}
				return cluster.StatusOK, append([]byte(fn+":"), body...)
			})
	}()
	defer func() { stop(); <-served }()

	h, err := ClusterConnect(clusterSpecJSON(t, node.ClientURL(), key, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ClusterRelease(h)
	job, err := ClusterNewJob(h)
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"a", "crash", "c"} {
		b := heapBytes(len(body))
		copy(b, body)
		if _, err := ClusterSubmit(h, job, i, "m:f", addr(b), len(b)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ClusterSetLength(h, job, 3); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		status int64
		body   string
	}{{ClusterOK, "m:f:a"}, {ClusterLost, "worker 1 exited"}, {ClusterOK, "m:f:c"}} {
		packed, err := ClusterTake(h, job, true, 30000)
		if err != nil {
			t.Fatal(err)
		}
		status, size := packed&7, int(packed>>3)
		buf := heapBytes(size + 1)
		chunk, err := ClusterFill(h, job, addr(buf), size)
		if err != nil {
			t.Fatal(err)
		}
		if status != want.status || chunk != int64(i) || !strings.HasPrefix(string(buf[:size]), want.body) {
			t.Fatalf("result %d: status %d chunk %d %q", i, status, chunk, buf[:size])
		}
	}
	if packed, err := ClusterTake(h, job, true, 0); packed != ClusterEnd || err != nil {
		t.Fatalf("after the last: %d, %v", packed, err)
	}
	if _, err := ClusterClose(h, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ClusterNewJob(h); err == nil || !strings.Contains(err.Error(), "gompx:ValueError:0:Pool not running") {
		t.Fatalf("NewJob after close: %v", err)
	}
}

func TestClusterConnectErrors(t *testing.T) {
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"bad JSON", "{", "gompx:ValueError:0:bad cluster spec"},
		{"bad key", `{"url": "nats://127.0.0.1:1", "authkey": "zz"}`, "gompx:ValueError:0:authkey is not hex"},
		{"remote without credentials", `{"url": "nats://gompx.invalid:4222", "authkey": "00"}`,
			"gompx:ValueError:0:insecure connection: refusing to connect to gompx.invalid:4222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ClusterConnect(tc.spec); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
