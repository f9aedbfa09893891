package gompxcore

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/gompx/gompx/gompx"
)

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

func TestListenerFacadeErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		call func() error
		want string // prefix of what Python sees
	}{
		{"unknown family", func() error { _, err := ListenerNew("AF_PIPE", "", 1); return err },
			"gompx:ValueError:0:Family AF_PIPE is not recognized."},
		{"address not hex", func() error { _, err := ListenerNew("AF_UNIX", "zz", 1); return err },
			"gompx:ValueError:0:bad address encoding"},
		{"missing directory", func() error { _, err := ListenerNew("AF_UNIX", hexOf(dir+"/no/x"), 1); return err },
			"gompx:OSError:2:"},
		{"connect to nothing", func() error { _, err := ClientConnect("AF_UNIX", hexOf(dir+"/none")); return err },
			"gompx:OSError:2:"},
		{"stale listener handle", func() error { _, err := ListenerAccept(1<<40, 0); return err },
			"gompx:OSError:0:handle is closed"},
		{"handshake on a stale connection", func() error { _, err := AuthNew(1<<40, 0, 0, "DA", ""); return err },
			"gompx:OSError:0:handle is closed"},
		{"stale handshake handle", func() error { _, err := AuthRun(1 << 40); return err },
			"gompx:OSError:0:handle is closed"},
	}
	for _, tt := range tests {
		err := tt.call()
		if err == nil || !strings.HasPrefix(describe(err), tt.want) {
			t.Errorf("%s: %v, want %q...", tt.name, err, tt.want)
		}
	}
}

func TestListenerFacadeRoundTrip(t *testing.T) {
	t.Chdir(t.TempDir())
	// "@at-sign.sock" is a file in the current directory, as in CPython, not an abstract name.
	for _, addr := range []string{"@at-sign.sock", "\x00gompx-facade\x00inner", "127.0.0.1:0"} {
		family := "AF_UNIX"
		if strings.HasPrefix(addr, "127.") {
			family = "AF_INET"
		}
		t.Run(fmt.Sprintf("%q", addr), func(t *testing.T) {
			l, err := ListenerNew(family, hexOf(addr), 1)
			if err != nil {
				t.Fatal(err)
			}
			defer ListenerClose(l)
			bound, _ := ListenerAddress(l)
			if addr == "@at-sign.sock" {
				if _, err := os.Stat(addr); err != nil {
					t.Fatalf("no socket file %s: %v", addr, err)
				}
			}
			if got, _ := ListenerAccept(l, 0); got != RecvTimedOut {
				t.Fatalf("accept with nobody there: %d, want RecvTimedOut", got)
			}
			key := heapBytes(3)
			copy(key, "key")
			keyAddr := uintptr(unsafe.Pointer(&key[0]))
			done := make(chan error, 1)
			go func() {
				c, err := ClientConnect(family, bound)
				if err == nil {
					err = handshake(c, keyAddr, "AD")
					ConnClose(c)
				}
				done <- err
			}()
			s, err := ListenerAccept(l, 10000)
			if err != nil {
				t.Fatal(err)
			}
			defer ConnClose(s)
			if err := handshake(s, keyAddr, "DA"); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if _, err := AuthNew(s, keyAddr, 3, "DX", ""); err == nil || !strings.Contains(describe(err), "ValueError") {
				t.Errorf("bad steps: %v", err)
			}
		})
	}
}

func handshake(conn int64, keyAddr uintptr, steps string) error {
	h, err := AuthNew(conn, keyAddr, 3, steps, "")
	if err != nil {
		return err
	}
	defer AuthDrop(h)
	for {
		done, err := AuthRun(h)
		if err != nil || done {
			return err
		}
	}
}

func TestTranslateAuthErrors(t *testing.T) {
	if got := describe(translate(fmt.Errorf("accept: %w", gompx.ErrAuthentication))); !strings.HasPrefix(got, "gompx:AuthenticationError:0:") {
		t.Errorf("ErrAuthentication -> %q", got)
	}
	if got := describe(translate(fmt.Errorf("accept: %w", gompx.ErrListenerClosed))); got != "gompx:OSError:0:listener is closed" {
		t.Errorf("ErrListenerClosed -> %q", got)
	}
}
