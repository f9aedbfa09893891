package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/cluster"
)

// The test binary is the gompx command when GOMPX_TEST_MAIN is set.
func TestMain(m *testing.M) {
	if os.Getenv("GOMPX_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func command(t *testing.T, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "GOMPX_TEST_MAIN=1"), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// gompxPython is the interpreter with gompx installed: GOMPX_PYTHON (required to
// import gompx when set), else python3 if it can.
func gompxPython(t *testing.T) string {
	python := os.Getenv("GOMPX_PYTHON")
	required := python != ""
	if python == "" {
		python = "python3"
	}
	if err := exec.Command(python, "-c", "import gompx._clusterworker").Run(); err != nil {
		if required {
			t.Fatalf("GOMPX_PYTHON=%s cannot import gompx._clusterworker: %v", python, err)
		}
		t.Skip("python3 cannot import gompx (install it, or set GOMPX_PYTHON): skipping the gompx worker test")
	}
	return python
}

// chunkPickles makes the bodies Python pools send, one per line, hex.
const chunkPickles = `
import operator, os, pickle, sys
bodies = [
    pickle.dumps((operator.add, [(1, 2), (3, 4)], "star"), 5),
    pickle.dumps((operator.neg, [5], "map"), 5).replace(b"operator", b"operatoz"),
    pickle.dumps((os._exit, [3], "map"), 5),
    pickle.dumps((operator.neg, [5], "map"), 5),
    pickle.dumps((operator.truediv, [((1, 0), {})], "apply"), 5),
]
for b in bodies:
    print(b.hex())
`

func TestServerAndWorker(t *testing.T) {
	python := gompxPython(t)
	out, err := exec.Command(python, "-c", chunkPickles).Output()
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for _, line := range strings.Fields(string(out)) {
		b, _ := hex.DecodeString(line)
		bodies = append(bodies, b)
	}

	server := command(t, nil, "server", "--port", "0", "--store", t.TempDir())
	stdout, _ := server.StdoutPipe()
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer server.Process.Kill()
	url, _ := bufio.NewReader(stdout).ReadString('\n')
	url = strings.TrimSpace(url)
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("gompx server printed %q", url)
	}

	key := []byte("cmd test key")
	worker := command(t, []string{"GOMPX_AUTHKEY=" + hex.EncodeToString(key)},
		"worker", url, "--processes", "2", "--python", python)
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer worker.Process.Kill()

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	conn, err := cluster.Connect(ctx, cluster.Options{URL: url, Authkey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, tc := range []struct {
		name   string
		status cluster.Status
		want   []string // substrings of the result's body
	}{
		{"star map", cluster.StatusOK, []string{"\x88]"}}, // (True, [...]: NEWTRUE, EMPTY_LIST
		{"module that cannot be imported", cluster.StatusOK, []string{"cannot import module '_operatoz'", "importable on every worker machine"}},
		{"worker process crashes", cluster.StatusLost, []string{"exited with code 3 while running this task"}},
		{"replaced after the crash", cluster.StatusOK, []string{"\x88]"}},
		{"task raises", cluster.StatusOK, []string{"ZeroDivisionError", "division by zero", "Traceback"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := cluster.NewCaller(ctx, conn)
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close(ctx)
			job, _ := k.NewJob()
			k.Submit(ctx, job, 0, "test:"+tc.name, bodies[i])
			k.SetLength(job, 1)
			r, err := k.Take(ctx, job, true)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status {
				t.Fatalf("status %s (%q), want %s", r.Status, r.Body, tc.status)
			}
			for _, w := range tc.want {
				if !bytes.Contains(r.Body, []byte(w)) {
					t.Fatalf("result %q lacks %q", r.Body, w)
				}
			}
		})
	}

	// The Go API: a Go program maps a Python function over the worker's processes.
	t.Run("Caller.Map from Go", func(t *testing.T) {
		k, err := cluster.NewCaller(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close(ctx)
		got, err := k.Map(ctx, "operator:neg", []any{int64(1), int64(2), int64(3)}, 2)
		if err != nil || len(got) != 3 || got[0] != int64(-1) || got[2] != int64(-3) {
			t.Fatalf("Map = %v, %v", got, err)
		}
		_, err = k.Map(ctx, "math:sqrt", []any{"x"}, 1)
		var te *cluster.TaskError
		if !errors.As(err, &te) || !strings.Contains(te.Exception, "TypeError") || te.Traceback == "" {
			t.Fatalf("Map of a raising function: %v, want a TaskError with its traceback", err)
		}
	})

	t.Run("gompx info", func(t *testing.T) {
		out, err := command(t, nil, "info", url, "--json").Output()
		if err != nil {
			t.Fatal(err)
		}
		var streams []cluster.StreamStatus
		if err := json.Unmarshal(out, &streams); err != nil {
			t.Fatalf("%v in %q", err, out)
		}
		names := map[string]int{}
		for _, s := range streams {
			names[s.Name] = s.Consumers
		}
		if c, ok := names[cluster.TasksStream]; !ok || c != 1 {
			t.Fatalf("streams %+v: want %s with the workers' consumer", streams, cluster.TasksStream)
		}
		if _, ok := names[cluster.ResultsStream]; !ok {
			t.Fatalf("streams %+v: no %s", streams, cluster.ResultsStream)
		}
		text, err := command(t, nil, "info", url).Output()
		if err != nil || !strings.Contains(string(text), "STREAM") || !strings.Contains(string(text), cluster.TasksStream) {
			t.Fatalf("gompx info: %v, %q", err, text)
		}
	})

	for _, p := range []*exec.Cmd{worker, server} {
		p.Process.Signal(syscall.SIGTERM)
		if err := p.Wait(); err != nil {
			t.Fatalf("%s after SIGTERM: %v", p.Args[1], err)
		}
	}
}

func TestWorkerRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no URL", []string{"GOMPX_AUTHKEY=00"}, []string{"worker"}, "give the cluster's URL"},
		{"no authkey", []string{"GOMPX_AUTHKEY="}, []string{"worker", "nats://127.0.0.1:1"}, "no authkey"},
		{"remote without credentials", []string{"GOMPX_AUTHKEY=00", "GOMPX_PYTHON=/bin/true"},
			[]string{"worker", "nats://gompx.invalid:4222", "--processes", "1", "--python", "/bin/true"},
			"refusing to connect to gompx.invalid:4222 without credentials"},
		{"unknown command", nil, []string{"frobnicate"}, "unknown command"},
		{"info without a URL", nil, []string{"info"}, "give the cluster's URL"},
		{"info of a remote server without credentials", nil, []string{"info", "nats://gompx.invalid:4222"},
			"refusing to connect to gompx.invalid:4222 without credentials"},
		{"info of a server that is not there", nil, []string{"info", "nats://127.0.0.1:1", "--timeout", "2s"},
			"connect to nats://127.0.0.1:1"},
		{"route TLS files missing", nil, []string{"server", "--port", "0", "--route-tls-cert", "c.pem",
			"--route-tls-key", "k.pem", "--route-tls-ca", "ca.pem"}, "no such file"},
		{"route TLS without its CA", nil, []string{"server", "--port", "0", "--route-tls-cert", "c.pem",
			"--route-tls-key", "k.pem"}, "route TLS needs the node's certificate, its key and the CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := command(t, tc.env, tc.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("%v, stderr %q, want %q", err, stderr.String(), tc.want)
			}
		})
	}
}
