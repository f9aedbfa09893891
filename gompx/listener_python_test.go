//go:build linux

package gompx

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gompx/gompx/internal/testpython"

	"github.com/gompx/gompx/pickle"
)

// pythonSide is run by a stock CPython with stdlib multiprocessing.connection only.
// argv: role (client|listener), family, address ("-" for the listener: pick one), key
// ("-": none). A client connects, sends ("add", 2, 3), expects 5, sends 1 MiB of bytes
// and expects their SHA-256 back. A listener prints its address, accepts one
// connection, and answers the same two requests. An AuthenticationError prints
// "auth-error" and exits 3.
const pythonSide = `
import hashlib, sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
role, family, address, key = sys.argv[1:5]
authkey = None if key == "-" else key.encode()
def parse(a):
    if family == "AF_INET":
        host, port = a.rsplit(":", 1)
        return (host, int(port))
    return "\0" + a[1:] if a.startswith("@") else a
def show(a):
    if isinstance(a, tuple):
        return "%s:%d" % a
    return "@" + a[1:].decode() if isinstance(a, bytes) else a
try:
    if role == "client":
        c = Client(parse(address), family, authkey=authkey)
        c.send(("add", 2, 3))
        assert c.recv() == 5
        blob = bytes(range(256)) * 4096
        c.send_bytes(blob)
        assert c.recv_bytes() == hashlib.sha256(blob).digest()
    else:
        l = Listener(None if address == "-" else parse(address), family, authkey=authkey)
        print(show(l.address), flush=True)
        c = l.accept()
        op, a, b = c.recv()
        c.send(a + b)
        c.send_bytes(hashlib.sha256(c.recv_bytes()).digest())
        assert l.last_accepted is not None
        l.close()
    print("ok", flush=True)
except AuthenticationError:
    print("auth-error", flush=True)
    sys.exit(3)
`

// serveOne answers pythonSide's two requests on c.
func serveOne(c *Conn) error {
	v, err := c.Recv()
	if err != nil {
		return err
	}
	req, ok := v.(pickle.Tuple)
	if !ok || len(req) != 3 || req[0] != "add" {
		return fmt.Errorf("unexpected request %#v", v)
	}
	if err := c.Send(req[1].(int64) + req[2].(int64)); err != nil {
		return err
	}
	blob, err := c.RecvBytes(0)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(blob)
	return c.SendBytes(sum[:])
}

// askOne sends pythonSide's two requests on c and checks the answers.
func askOne(c *Conn) error {
	if err := c.Send(pickle.Tuple{"add", 2, 3}); err != nil {
		return err
	}
	if v, err := c.Recv(); err != nil || v != int64(5) {
		return fmt.Errorf("add: got %#v, %v", v, err)
	}
	blob := bytes.Repeat(seqBytes(256), 4096)
	if err := c.SendBytes(blob); err != nil {
		return err
	}
	sum := sha256.Sum256(blob)
	if got, err := c.RecvBytes(0); err != nil || !bytes.Equal(got, sum[:]) {
		return fmt.Errorf("sha256: got %x, %v", got, err)
	}
	return nil
}

type interopCase struct {
	name, network, family, address string
	goKey, pyKey                   []byte // nil: no authkey
	wantAuthError                  bool
}

func interopCases(t *testing.T) []interopCase {
	dir := t.TempDir()
	abstract := fmt.Sprintf("@gompx-interop-%d", os.Getpid())
	var cases []interopCase
	for _, fam := range []struct{ network, family, address string }{
		{"unix", "AF_UNIX", filepath.Join(dir, "s")},
		{"unix", "AF_UNIX", abstract},
		{"tcp", "AF_INET", "127.0.0.1:0"},
	} {
		name := fam.family + map[bool]string{true: " abstract", false: ""}[strings.HasPrefix(fam.address, "@")]
		cases = append(cases,
			interopCase{name + " no key", fam.network, fam.family, fam.address, nil, nil, false},
			interopCase{name + " key", fam.network, fam.family, fam.address, []byte("s3cret"), []byte("s3cret"), false},
			interopCase{name + " wrong key", fam.network, fam.family, fam.address, []byte("s3cret"), []byte("other"), true})
	}
	return cases
}

func pyKeyArg(k []byte) string {
	if k == nil {
		return "-"
	}
	return string(k)
}

// TestGoListenerCPythonClient: a Go Listener accepts a stock CPython Client.
func TestGoListenerCPythonClient(t *testing.T) {
	for _, python := range testpython.Stock(t) {
		for _, tc := range interopCases(t) {
			t.Run(filepath.Base(python)+"/"+tc.name, func(t *testing.T) {
				l, err := Listen(tc.network, tc.address, ListenOptions{Authkey: tc.goKey})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				cmd := exec.Command(python, "-c", pythonSide, "client", tc.family, l.Addr(), pyKeyArg(tc.pyKey))
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer cmd.Process.Kill()
				c, err := l.AcceptTimeout(20 * time.Second)
				if tc.wantAuthError {
					werr := cmd.Wait()
					if !errors.Is(err, ErrAuthentication) || !strings.Contains(out.String(), "auth-error") {
						t.Fatalf("Go: %v; python (%v): %s", err, werr, out.String())
					}
					return
				}
				if err != nil {
					t.Fatalf("accept: %v; python: %s", err, out.String())
				}
				defer c.Close()
				if err := serveOne(c); err != nil {
					t.Fatalf("%v; python: %s", err, out.String())
				}
				if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "ok") {
					t.Fatalf("python: %v: %s", err, out.String())
				}
			})
		}
	}
}

// TestGoDialCPythonListener: Go's Dial reaches a stock CPython Listener.
func TestGoDialCPythonListener(t *testing.T) {
	for _, python := range testpython.Stock(t) {
		for _, tc := range interopCases(t) {
			t.Run(filepath.Base(python)+"/"+tc.name, func(t *testing.T) {
				address := tc.address
				if tc.network == "tcp" {
					address = "127.0.0.1:0"
				}
				cmd := exec.Command(python, "-c", pythonSide, "listener", tc.family, address, pyKeyArg(tc.pyKey))
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer cmd.Process.Kill()
				lines := bufio.NewScanner(stdout)
				if !lines.Scan() {
					t.Fatalf("no address from python: %s", stderr.String())
				}
				c, err := Dial(tc.network, lines.Text(), tc.goKey)
				if tc.wantAuthError {
					lines.Scan()
					werr := cmd.Wait()
					if !errors.Is(err, ErrAuthentication) || lines.Text() != "auth-error" {
						t.Fatalf("Go: %v; python (%v) said %q: %s", err, werr, lines.Text(), stderr.String())
					}
					return
				}
				if err != nil {
					t.Fatalf("dial: %v; python: %s", err, stderr.String())
				}
				defer c.Close()
				if err := askOne(c); err != nil {
					t.Fatalf("%v; python: %s", err, stderr.String())
				}
				lines.Scan()
				if err := cmd.Wait(); err != nil || lines.Text() != "ok" {
					t.Fatalf("python: %v, said %q: %s", err, lines.Text(), stderr.String())
				}
			})
		}
	}
}
