//go:build linux

package gompx

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gompx/gompx/internal/testpython"

	"golang.org/x/sys/unix"
)

// pythonPeer is the other end, run by the real interpreter with stdlib
// multiprocessing.connection.Connection on fd 3: it first sends one message of each
// size in argv (byte i is i % 251), then answers every message with its SHA-256
// followed by the message, until EOF.
const pythonPeer = `
import hashlib, sys
from multiprocessing.connection import Connection
c = Connection(3)
for n in map(int, sys.argv[1:]):
    c.send_bytes(bytes(i % 251 for i in range(n)))
while True:
    try:
        m = c.recv_bytes()
    except EOFError:
        break
    c.send_bytes(hashlib.sha256(m).digest() + m)
`

func TestCPythonInterop(t *testing.T) {
	python := testpython.One(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConn(fds[0], true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sizes := []int{0, 1, 16384, 16385, 70000, 1 << 20}
	args := []string{"-c", pythonPeer}
	for _, n := range sizes {
		args = append(args, fmt.Sprint(n))
	}
	cmd := exec.Command(python, args...)
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(fds[1]), "python-end")}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles[0].Close()
	defer cmd.Process.Kill()

	for _, n := range sizes { // CPython -> Go
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i % 251)
		}
		if ok, err := c.Poll(10 * time.Second); !ok {
			t.Fatalf("nothing from python3 (%v); stderr:\n%s", err, stderr.String())
		}
		got, err := c.RecvBytes(0)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("from CPython, %d bytes: got %d bytes, %v; stderr:\n%s", n, len(got), err, stderr.String())
		}
	}
	for _, n := range sizes { // Go -> CPython -> Go
		msg := randomBytes(n, 3)
		if err := c.SendBytes(msg); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(msg)
		got, err := c.RecvBytes(0)
		if err != nil || !bytes.Equal(got, append(sum[:], msg...)) {
			t.Fatalf("to CPython and back, %d bytes: got %d bytes, %v; stderr:\n%s", n, len(got), err, stderr.String())
		}
	}
	c.Close() // EOF ends the Python loop
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python3: %v; stderr:\n%s", err, stderr.String())
	}
}
