//go:build gompx_failpoints

package shmring

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/gompx/gompx/gompx/internal/failpoint/fptest"
)

// Kill tests (make failpoints runs them under -race, 100 times each): one end of a ring
// dies at a failpoint, and the other end must get every byte published before the death,
// in order and intact, then the peer's death (alive's error), never a hang.

const fpChildEnv = "SHMRING_FP_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(fpChildEnv) {
	case "":
		os.Exit(m.Run())
	case "write":
		r, err := Open(3)
		if err == nil {
			for i := 0; err == nil && i < 1<<20; i++ {
				err = r.Write(fpStream(uint64(i)*fpBlock, fpBlock), nil)
			}
		}
		fmt.Fprintln(os.Stderr, "the failpoint never fired:", err)
		os.Exit(1)
	case "read":
		r, err := Open(3)
		b := make([]byte, fpBlock)
		for i := 0; err == nil && i < 1<<20; i++ {
			err = r.Read(b, nil)
		}
		fmt.Fprintln(os.Stderr, "the failpoint never fired:", err)
		os.Exit(1)
	}
}

const fpBlock = 10000 // bytes per Write; several per chunk, and not a divisor of the ring

// fpStream is the stream's bytes [from, from+n): each byte a function of its position.
func fpStream(from uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		p := from + uint64(i)
		b[i] = byte(p ^ p>>8 ^ p>>16)
	}
	return b
}

// startPeer runs scenario on r's file in a child with spec armed, and returns a channel
// closed once the child is reaped, with its error.
func startPeer(t *testing.T, r *Ring, scenario, spec string) (<-chan struct{}, *error) {
	t.Helper()
	cmd := fptest.Command(t, r.Fd(), spec, fpChildEnv+"="+scenario)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done, werr := make(chan struct{}), new(error)
	go func() { *werr = cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return done, werr
}

var errPeerGone = errors.New("peer gone")

func aliveUntil(done <-chan struct{}) func() error {
	return func() error {
		select {
		case <-done:
			return errPeerGone
		default:
			return nil
		}
	}
}

func checkKilled(t *testing.T, err error) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("peer: %v, not killed at the failpoint", err)
	}
}

// The writer dies having copied bytes into the ring, before publishing them: the reader
// gets exactly the published stream, then the death.
func TestFailpointRingWriterKilled(t *testing.T) {
	r, err := Create(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done, werr := startPeer(t, r, "write", "shmring/written=kill@40")
	alive := aliveUntil(done)
	var pos uint64
	b := make([]byte, 777)
	for {
		err := r.Read(b, alive)
		if errors.Is(err, errPeerGone) {
			// The last read took what was published of its bytes: all of it.
			got := r.h.Tail - pos
			if string(b[:got]) != string(fpStream(pos, int(got))) {
				t.Fatalf("bytes at %d are not the stream's", pos)
			}
			if r.h.Head != r.h.Tail {
				t.Fatalf("%d published bytes unread after the writer died", r.h.Head-r.h.Tail)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(fpStream(pos, len(b))) {
			t.Fatalf("bytes at %d are not the stream's", pos)
		}
		pos += uint64(len(b))
	}
	<-done
	checkKilled(t, *werr)
}

// The reader dies having copied bytes out, before freeing them: the writer, blocked on
// a full ring, gets the death, not a hang.
func TestFailpointRingReaderKilled(t *testing.T) {
	r, err := Create(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done, werr := startPeer(t, r, "read", "shmring/consumed=kill@20")
	alive := aliveUntil(done)
	var werrW error
	for i := 0; werrW == nil; i++ {
		werrW = r.Write(fpStream(uint64(i)*fpBlock, fpBlock), alive)
	}
	if !errors.Is(werrW, errPeerGone) {
		t.Fatalf("Write after the reader died: %v", werrW)
	}
	<-done
	checkKilled(t, *werr)
}
