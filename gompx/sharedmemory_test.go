//go:build linux

package gompx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/gompx/gompx/internal/testpython"
)

func testSegmentName(t *testing.T) string {
	return fmt.Sprintf("gompx-go-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "."))
}

func TestSharedMemoryErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, name string) error
		want error
	}{
		{"create a live name", func(t *testing.T, n string) error {
			m, err := CreateSharedMemory(n, 1)
			if err != nil {
				return err
			}
			defer m.Close()
			_, err = CreateSharedMemory(n, 1)
			return err
		}, fs.ErrExist},
		{"open a name nobody holds", func(t *testing.T, n string) error {
			_, err := OpenSharedMemory(n)
			return err
		}, fs.ErrNotExist},
		{"open an unlinked name", func(t *testing.T, n string) error {
			m, err := CreateSharedMemory(n, 1)
			if err != nil {
				return err
			}
			defer m.Close()
			m.Unlink()
			_, err = OpenSharedMemory(n)
			return err
		}, fs.ErrNotExist},
		{"unlink twice", func(t *testing.T, n string) error {
			m, err := CreateSharedMemory(n, 1)
			if err != nil {
				return err
			}
			defer m.Close()
			m.Unlink()
			return m.Unlink()
		}, fs.ErrNotExist},
		{"size 0", func(t *testing.T, n string) error {
			_, err := CreateSharedMemory(n, 0)
			return err
		}, syscall.EINVAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(t, testSegmentName(t)); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSharedMemoryBytes(t *testing.T) {
	a, err := CreateSharedMemory("", 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenSharedMemory(a.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Bytes()) != 10000 || b.Size() != 10000 || !strings.HasPrefix(a.Name(), "psm_") {
		t.Fatalf("len %d, size %d, name %q", len(a.Bytes()), b.Size(), a.Name())
	}
	copy(a.Bytes()[9990:], "0123456789")
	if string(b.Bytes()[9990:]) != "0123456789" {
		t.Fatal("the second mapping does not see the first one's write")
	}
	b.Close()
	if b.Bytes() != nil {
		t.Fatal("Bytes after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// pythonSharedMemoryPeer attaches to the segment Go made (argv[1]), checks and answers
// in it, then creates one of its own and holds it until its stdin closes.
const pythonSharedMemoryPeer = `
import sys
from gompx import shared_memory
theirs = shared_memory.SharedMemory(sys.argv[1])
assert bytes(theirs.buf[:7]) == b"from go", bytes(theirs.buf[:7])
theirs.buf[:11] = b"from python"
theirs.close()
mine = shared_memory.SharedMemory(create=True, size=12345)
mine.buf[-6:] = b"python"
print(mine.name, flush=True)
sys.stdin.read()
mine.close()
mine.unlink()
`

// TestSharedMemoryWithPython shares segments by name both ways between Go and a CPython
// process running gompx (not a child of any process of ours in the Python sense).
func TestSharedMemoryWithPython(t *testing.T) {
	python := testpython.WithGompx(t, "gompx.shared_memory")
	mine, err := CreateSharedMemory(testSegmentName(t), 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	copy(mine.Bytes(), "from go")
	cmd := exec.Command(python, "-c", pythonSharedMemoryPeer, mine.Name())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Wait()
		t.Fatalf("no name from python: %v\n%s", err, stderr.String())
	}
	if got := string(mine.Bytes()[:11]); got != "from python" {
		t.Fatalf("python wrote %q", got)
	}
	theirs, err := OpenSharedMemory(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if theirs.Size() != 12345 || !bytes.HasSuffix(theirs.Bytes(), []byte("python")) {
		t.Fatalf("python's segment: size %d, ends %q", theirs.Size(), theirs.Bytes()[12339:])
	}
	stdin.Close() // python closes and unlinks its segment: ours stays mapped
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	if !bytes.HasSuffix(theirs.Bytes(), []byte("python")) {
		t.Fatal("the memory went with python's unlink")
	}
	if _, err := OpenSharedMemory(theirs.Name()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open after python unlinked it: %v", err)
	}
	theirs.Close()
}
