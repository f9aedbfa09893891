package main

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/gompx/gompx/internal/testpython"
)

// The program with -python: it starts CPython on its client script and serves it.
func TestRunWithPythonClient(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		var out strings.Builder
		if err := run([]string{"-network", network, "-python", testpython.One(t)}, &out); err != nil {
			t.Fatal(err)
		}
		want := []string{"sum -> 6.5", "upper -> GOMPX", "len -> 5", "nope -> ('error', 'unknown job [nope]')"}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", network, w, out.String())
			}
		}
	}
}

// A CPython client with the wrong key is refused, and the program serves the next one.
func TestWrongKeyRefused(t *testing.T) {
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run([]string{"-authkey", "right", "-n", "1"}, w); w.Close() }()
	lines := bufio.NewScanner(r)
	lines.Scan()
	address := lines.Text()
	go io.Copy(io.Discard, r)
	for _, tc := range []struct{ key, want string }{{"wrong", "AuthenticationError"}, {"right", "42"}} {
		script := `
import ast, sys
from multiprocessing.connection import Client
try:
    with Client(ast.literal_eval(sys.argv[1]), authkey=sys.argv[2].encode()) as c:
        c.send(("sum", [40, 2])); print(c.recv()); c.send(None)
except Exception as e:
    print(type(e).__name__)
`
		out, err := exec.Command(testpython.One(t), "-c", script, address, tc.key).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("key %q: %v: %s (want %s)", tc.key, err, out, tc.want)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPythonLiteral(t *testing.T) {
	for _, tt := range []struct{ network, addr, want string }{
		{"unix", "/tmp/x/listener", `"/tmp/x/listener"`},
		{"unix", "@name", `"\x00name"`},
		{"tcp", "127.0.0.1:5000", `("127.0.0.1", 5000)`},
	} {
		if got := pythonLiteral(tt.network, tt.addr); got != tt.want {
			t.Errorf("pythonLiteral(%q, %q) = %s, want %s", tt.network, tt.addr, got, tt.want)
		}
	}
}
