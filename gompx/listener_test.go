//go:build linux

package gompx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestListenDial(t *testing.T) {
	dir := t.TempDir()
	abstract := fmt.Sprintf("gompx-test-%d", os.Getpid())
	tests := []struct {
		name, network, address string
		key                    []byte
		wantAddr               func(got string) bool
	}{
		{"unix path", "unix", filepath.Join(dir, "a.sock"), nil, nil},
		{"unix path, authkey", "unix", filepath.Join(dir, "b.sock"), []byte("secret"), nil},
		{"unix path, empty authkey", "unix", filepath.Join(dir, "c.sock"), []byte{}, nil},
		{"unix default address", "unix", "", []byte("k"), func(a string) bool { return strings.HasPrefix(a, os.TempDir()) }},
		{"abstract, NUL-prefixed", "unix", "\x00" + abstract + "-1", []byte("k"), func(a string) bool { return a == "@"+abstract+"-1" }},
		{"abstract, @-prefixed", "unix", "@" + abstract + "-2", nil, nil},
		{"tcp", "tcp", "127.0.0.1:0", []byte("k"), func(a string) bool { return strings.HasPrefix(a, "127.0.0.1:") && !strings.HasSuffix(a, ":0") }},
		{"tcp default address", "tcp", "", nil, func(a string) bool { return strings.HasPrefix(a, "127.0.0.1:") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Listen(tt.network, tt.address, ListenOptions{Authkey: tt.key})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if tt.wantAddr != nil && !tt.wantAddr(l.Addr()) {
				t.Errorf("Addr() = %q", l.Addr())
			}
			if l.unlink != "" {
				st, err := os.Stat(l.unlink)
				if err != nil || st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
					t.Errorf("socket file %s: %v, %v; want a 0600 socket", l.unlink, st.Mode(), err)
				}
			}
			roundTrip(t, l, tt.key)
			file := l.unlink
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(file); file != "" && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket file %s still there after Close: %v", file, err)
			}
			if _, err := l.Accept(); !errors.Is(err, ErrListenerClosed) {
				t.Errorf("Accept after Close: %v", err)
			}
		})
	}
}

// roundTrip dials l and sends one message each way.
func roundTrip(t *testing.T, l *Listener, key []byte) {
	t.Helper()
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.AcceptTimeout(10 * time.Second)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	c, err := Dial(l.Network(), l.Addr(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	defer s.Close()
	if err := c.SendBytes([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RecvBytes(0); string(got) != "ping" || err != nil {
		t.Fatalf("server got %q, %v", got, err)
	}
	if err := s.SendBytes([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.RecvBytes(0); string(got) != "pong" || err != nil {
		t.Fatalf("client got %q, %v", got, err)
	}
	if l.Network() == "unix" && l.LastAccepted() != "" {
		t.Errorf("LastAccepted of an unnamed client = %q, want \"\"", l.LastAccepted())
	}
	if l.Network() == "tcp" && !strings.HasPrefix(l.LastAccepted(), "127.0.0.1:") {
		t.Errorf("LastAccepted = %q", l.LastAccepted())
	}
}

func TestWrongAuthkeyBothSides(t *testing.T) {
	l, err := Listen("unix", "", ListenOptions{Authkey: []byte("right")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.AcceptTimeout(10 * time.Second)
		if c != nil {
			c.Close()
		}
		accepted <- err
	}()
	_, err = Dial("unix", l.Addr(), []byte("wrong"))
	if !errors.Is(err, ErrAuthentication) {
		t.Errorf("client: %v, want ErrAuthentication", err)
	}
	if err := <-accepted; !errors.Is(err, ErrAuthentication) {
		t.Errorf("listener: %v, want ErrAuthentication", err)
	}
}

func TestDialErrors(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := Listen("unix", stale, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(l.fd) // leaves the file, with nobody listening
	l.fd = -1
	tests := []struct {
		network, address string
		want             error
	}{
		{"unix", filepath.Join(dir, "missing.sock"), syscall.ENOENT},
		{"unix", stale, syscall.ECONNREFUSED},
		{"tcp", "127.0.0.1:1", syscall.ECONNREFUSED},
		{"sctp", "x", nil},
		{"unix", "", nil},
		{"tcp", "no port", nil},
	}
	for _, tt := range tests {
		_, err := Dial(tt.network, tt.address, nil)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("Dial(%q, %q): %v, want %v", tt.network, tt.address, err, tt.want)
		}
	}
}

func TestListenErrors(t *testing.T) {
	dir := t.TempDir()
	taken := filepath.Join(dir, "taken.sock")
	l, err := Listen("unix", taken, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		network, address string
		opts             ListenOptions
		want             error
	}{
		{"unix", taken, ListenOptions{}, syscall.EADDRINUSE},
		{"unix", filepath.Join(dir, "no/such/dir.sock"), ListenOptions{}, syscall.ENOENT},
		{"unix", "/" + strings.Repeat("x", 200), ListenOptions{}, syscall.EINVAL},
		{"tcp", "127.0.0.1:0", ListenOptions{Digest: "sha1"}, nil},
		{"pipe", "", ListenOptions{}, nil},
	}
	for _, tt := range tests {
		l, err := Listen(tt.network, tt.address, tt.opts)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("Listen(%q, %q): %v, want %v", tt.network, tt.address, err, tt.want)
		}
		if l != nil {
			l.Close()
		}
	}
}

func TestCloseWakesAccept(t *testing.T) {
	l, err := Listen("tcp", "", ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrListenerClosed) {
			t.Errorf("Accept: %v, want ErrListenerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
}

func TestAcceptTimeout(t *testing.T) {
	l, err := Listen("unix", "", ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	if _, err := l.AcceptTimeout(30 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Errorf("returned after %v", d)
	}
}
