//go:build linux

package gompx

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// connStateEnv carries the child's end, as ConnState text, to a conn test child.
const connStateEnv = "GOMPX_CONN_STATE"

// Conn scenarios for the re-executed test binary (see process_main_test.go); each
// rebuilds its end from connStateEnv.
func init() {
	testChildren["conn-echo"] = func() { connEcho(false) }
	testChildren["conn-large-echo"] = func() { connEcho(true) }
	testChildren["conn-sink"] = connSink
	testChildren["conn-die-mid-large-send"] = func() {
		c := childConn()
		go c.SendBytes(make([]byte, 64<<20)) // blocks once the ring is full
		time.Sleep(200 * time.Millisecond)
		os.Exit(7)
	}
	testChildren["conn-die-mid-large-recv"] = func() {
		c := childConn()
		c.RecvHeader(-1) // then die with the payload half through the ring
		time.Sleep(100 * time.Millisecond)
		os.Exit(7)
	}
	testChildren["conn-exit-before-ready"] = func() { os.Exit(0) }
}

func childConn() *Conn {
	var s ConnState
	if err := s.UnmarshalText([]byte(os.Getenv(connStateEnv))); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(20)
	}
	c, err := ConnFromState(s)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(21)
	}
	return c
}

// connEcho sends back every message until EOF; with digest, each reply is the
// message's SHA-256 followed by the message, so both directions are checked.
func connEcho(digest bool) {
	c := childConn()
	for {
		m, err := c.RecvBytes(0)
		if err == io.EOF {
			os.Exit(0)
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(22)
		}
		if digest {
			sum := sha256.Sum256(m)
			m = append(sum[:], m...)
		}
		if err := c.SendBytes(m); err != nil {
			os.Exit(23)
		}
	}
}

// connSink receives messages into one reused buffer until an empty message, then
// answers "ok": the one-way benchmark's far end.
func connSink() {
	c := childConn()
	var buf []byte
	for {
		n, err := c.RecvHeader(-1)
		if err != nil {
			os.Exit(24)
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		if err := c.RecvPayload(buf[:n]); err != nil {
			os.Exit(25)
		}
		if n == 0 {
			c.SendBytes([]byte("ok"))
		}
	}
}

// startConnChild runs scenario in a re-executed test binary holding end (which this
// process then closes) and returns the running command.
func startConnChild(t testing.TB, scenario string, end *Conn) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := end.State()
	var files []*os.File
	var childFds []int
	for i, fd := range s.Fds() {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, os.NewFile(uintptr(d), "conn"))
		childFds = append(childFds, 3+i)
	}
	s, _ = s.WithFds(childFds)
	text, _ := s.MarshalText()
	cmd := exec.Command(exe)
	cmd.Env = append(testChildEnviron(scenario), connStateEnv+"="+string(text))
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	for _, f := range files {
		f.Close()
	}
	end.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func TestChildEcho(t *testing.T) {
	for _, tt := range []struct {
		mode     string
		scenario string
		sizes    []int
	}{
		{"plain", "conn-echo", []int{0, 1, 100, 70000, 1 << 20}},
		{"peer", "conn-echo", []int{0, 1, ringThreshold, ringSize + 1, 10}},
		{"peer", "conn-large-echo", []int{ringThreshold - 1, ringThreshold, ringSize, 3*ringSize + 7, 5}},
	} {
		t.Run(tt.mode+"/"+tt.scenario, func(t *testing.T) {
			a, b := testPipe2(t, tt.mode)
			startConnChild(t, tt.scenario, b)
			for i, n := range tt.sizes {
				msg := randomBytes(n, uint64(i))
				if err := a.SendBytes(msg); err != nil {
					t.Fatal(err)
				}
				want := msg
				if tt.scenario == "conn-large-echo" {
					sum := sha256.Sum256(msg)
					want = append(sum[:], msg...)
				}
				got, err := a.RecvBytes(0)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
				}
			}
		})
	}
}

// The child's end already knows both rings (large messages went both ways before the
// hand-off): the child must carry on with them.
func TestChildTakesOverMidSequence(t *testing.T) {
	a, b := testPipe2(t, "peer")
	big := randomBytes(ringSize+3, 5)
	for _, pair := range [][2]*Conn{{a, b}, {b, a}} {
		errc := make(chan error, 1)
		go func() { errc <- pair[0].SendBytes(big) }()
		if got, err := pair[1].RecvBytes(0); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("before hand-off: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	startConnChild(t, "conn-echo", b)
	for _, n := range []int{2 * ringSize, 7, ringThreshold} {
		msg := randomBytes(n, 11)
		if err := a.SendBytes(msg); err != nil {
			t.Fatal(err)
		}
		if got, err := a.RecvBytes(0); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("after hand-off, %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
}

// A sender dying mid-way through a large message gives the receiver an error, not a hang.
func TestChildDiesMidLargeSend(t *testing.T) {
	a, b := testPipe2(t, "peer")
	cmd := startConnChild(t, "conn-die-mid-large-send", b)
	n, err := a.RecvHeader(5 * time.Second)
	if err != nil || n != 64<<20 {
		t.Fatalf("RecvHeader = %d, %v", n, err)
	}
	cmd.Wait()
	done := make(chan error, 1)
	go func() { done <- a.RecvPayload(make([]byte, n)) }()
	select {
	case err := <-done:
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("RecvPayload = %v, want io.ErrUnexpectedEOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("receiver hangs after the sender died")
	}
}

// A receiver dying mid-way gives the blocked sender an error (EPIPE), not a hang.
func TestChildDiesMidLargeRecv(t *testing.T) {
	a, b := testPipe2(t, "peer")
	startConnChild(t, "conn-die-mid-large-recv", b)
	done := make(chan error, 1)
	go func() { done <- a.SendBytes(make([]byte, 64<<20)) }()
	select {
	case err := <-done:
		if !errors.Is(err, unix.EPIPE) {
			t.Fatalf("SendBytes = %v, want EPIPE", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sender hangs after the receiver died")
	}
}

func TestChildExitBeforeReady(t *testing.T) {
	for _, mode := range []string{"plain", "peer"} {
		a, b := testPipe2(t, mode)
		cmd := startConnChild(t, "conn-exit-before-ready", b)
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		if ok, err := a.Poll(time.Second); !ok || err != nil {
			t.Fatalf("%s: Poll = %v, %v; want ready (EOF)", mode, ok, err)
		}
		if _, err := a.RecvBytes(0); err != io.EOF {
			t.Fatalf("%s: RecvBytes = %v, want io.EOF", mode, err)
		}
		if err := a.SendBytes([]byte("anyone?")); !errors.Is(err, unix.EPIPE) {
			t.Fatalf("%s: SendBytes = %v, want EPIPE", mode, err)
		}
	}
}
