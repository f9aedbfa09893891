package shmname

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/internal/shm"
	"golang.org/x/sys/unix"
)

const patternSize = 3*4096 + 123 // not a page multiple: Size must be exact

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// mapData maps the data of s for the life of the process (tests only).
func mapData(s *Segment) ([]byte, error) {
	return shm.MapRange(s.Fd(), s.DataOffset(), s.Size())
}

func checkPattern(s *Segment) error {
	if s.Size() != patternSize {
		return fmt.Errorf("size %d, want %d", s.Size(), patternSize)
	}
	data, err := mapData(s)
	if err != nil {
		return err
	}
	defer shm.Unmap(data)
	if !bytes.Equal(data, pattern(patternSize)) {
		return fmt.Errorf("data differs from the pattern")
	}
	return nil
}

// testName is a name no other test (or test run) uses.
func testName(t *testing.T) string {
	return fmt.Sprintf("gompx-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "."))
}

func mustCreate(t *testing.T, name string, size int64) *Segment {
	t.Helper()
	s, err := Create(name, size)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustOpen(t *testing.T, name string) *Segment {
	t.Helper()
	s, err := Open(name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// bound reports whether a socket listens on the abstract address of name, from
// /proc/net/unix. Only listeners (flag __SO_ACCEPTCON) count: the connections a binder
// accepted show its address too, and close a moment after it let go.
func bound(t *testing.T, name string) bool {
	t.Helper()
	key, err := Key(name)
	if err != nil {
		t.Fatal(err)
	}
	table, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Skipf("cannot read /proc/net/unix: %v", err)
	}
	want := address(os.Geteuid(), key)
	for _, line := range strings.Split(string(table), "\n") {
		f := strings.Fields(line)
		if len(f) != 8 || f[7] != want {
			continue
		}
		if flags, err := strconv.ParseUint(f[3], 16, 32); err == nil && flags&0x10000 != 0 {
			return true
		}
	}
	return false
}

// unboundSoon fails unless the name stops being bound within a second: a holder closes
// its listener a moment after Close returns (see holder.close).
func unboundSoon(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); bound(t, name); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the name outlived every holder")
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		name, key string
		err       error
	}{
		{"psm_0123abcd", "psm_0123abcd", nil},
		{"/x", "x", nil},
		{"//x", "x", nil},
		{"a b.c-d", "a b.c-d", nil},
		{strings.Repeat("x", 255), strings.Repeat("x", 255), nil},
		{"/" + strings.Repeat("x", 255), strings.Repeat("x", 255), nil},
		{strings.Repeat("x", 256), "", unix.ENAMETOOLONG},
		{"", "", unix.EINVAL},
		{"/", "", unix.EINVAL},
		{"a/b", "", unix.EINVAL},
		{"a\x00b", "", unix.EINVAL},
		{".", "", unix.EINVAL},
		{"..", "", unix.EINVAL},
	}
	for _, tt := range tests {
		key, err := Key(tt.name)
		if key != tt.key || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("Key(%q) = %q, %v; want %q, %v", tt.name, key, err, tt.key, tt.err)
		}
	}
}

func TestAddress(t *testing.T) {
	tests := []struct {
		key    string
		hashed bool
	}{
		{"psm_0123abcd", false},
		{strings.Repeat("x", 80), false},
		{strings.Repeat("x", 255), true},
		{strings.Repeat("é", 60), true},
	}
	for _, tt := range tests {
		addr := address(1000, tt.key)
		if len(addr)-1 > maxAbstract {
			t.Errorf("address of a %d-byte key is %d bytes, more than sun_path holds", len(tt.key), len(addr))
		}
		if got := !strings.HasSuffix(addr, "/"+tt.key); got != tt.hashed {
			t.Errorf("address(%q...) = %q: hashed %v, want %v", tt.key[:8], addr, got, tt.hashed)
		}
	}
	if address(1000, "a") == address(1001, "a") {
		t.Error("two users share an address")
	}
}

func TestCreateOpenShare(t *testing.T) {
	name := testName(t)
	a := mustCreate(t, name, patternSize)
	data, err := mapData(a)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Unmap(data)
	copy(data, pattern(patternSize))
	b := mustOpen(t, "/"+name) // leading slashes do not count, as in shm_open
	if err := checkPattern(b); err != nil {
		t.Fatal(err)
	}
	if b.Name() != "/"+name || a.Name() != name {
		t.Errorf("names %q, %q", a.Name(), b.Name())
	}
	if a.Fd() == b.Fd() {
		t.Error("both holders share one descriptor")
	}
}

func TestGeneratedName(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		s := mustCreate(t, "", 1)
		if !strings.HasPrefix(s.Name(), GeneratedPrefix) || len(s.Name()) != len(GeneratedPrefix)+8 || seen[s.Name()] {
			t.Fatalf("generated name %q (seen before: %v)", s.Name(), seen[s.Name()])
		}
		seen[s.Name()] = true
	}
}

// Every way to get an error, each with the errno Python turns into its exception.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, name string) error
		want error
	}{
		{"create twice", func(t *testing.T, n string) error {
			mustCreate(t, n, 10)
			_, err := Create(n, 10)
			return err
		}, unix.EEXIST},
		{"open missing", func(t *testing.T, n string) error { _, err := Open(n); return err }, unix.ENOENT},
		{"open unlinked", func(t *testing.T, n string) error {
			s := mustCreate(t, n, 10)
			s.Unlink()
			_, err := Open(n)
			return err
		}, unix.ENOENT},
		{"open after the only holder closed", func(t *testing.T, n string) error {
			s := mustCreate(t, n, 10)
			s.Close()
			_, err := Open(n)
			return err
		}, unix.ENOENT},
		{"unlink twice", func(t *testing.T, n string) error {
			s := mustCreate(t, n, 10)
			s.Unlink()
			return s.Unlink()
		}, unix.ENOENT},
		{"unlink what another holder unlinked", func(t *testing.T, n string) error {
			s, o := mustCreate(t, n, 10), mustOpen(t, n)
			s.Unlink()
			return o.Unlink()
		}, unix.ENOENT},
		{"size 0", func(t *testing.T, n string) error { _, err := Create(n, 0); return err }, unix.EINVAL},
		{"size -1", func(t *testing.T, n string) error { _, err := Create(n, -1); return err }, unix.EINVAL},
		{"slash inside", func(t *testing.T, n string) error { _, err := Create(n+"/x", 1); return err }, unix.EINVAL},
		{"too long", func(t *testing.T, n string) error { _, err := Open(strings.Repeat("x", 256)); return err }, unix.ENAMETOOLONG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(t, testName(t)); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnlinkFreesNameKeepsMemory(t *testing.T) {
	name := testName(t)
	a := mustCreate(t, name, patternSize)
	b := mustOpen(t, name) // a stand-by: the unlink goes through the binder
	data, err := mapData(b)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Unmap(data)
	if err := b.Unlink(); err != nil {
		t.Fatal(err)
	}
	if bound(t, name) {
		t.Fatal("the name is still bound when Unlink returned")
	}
	c := mustCreate(t, name, 10) // a new segment under the old name
	if c.Size() != 10 {
		t.Fatal("created the wrong segment")
	}
	copy(data, "still here")
	adata, err := mapData(a)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Unmap(adata)
	if string(adata[:10]) != "still here" {
		t.Fatal("unlink cut the memory the holders share")
	}
	if err := a.Unlink(); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("unlinking the old segment again: %v, want ENOENT", err)
	}
	s := mustOpen(t, name)
	if s.Size() != 10 {
		t.Fatal("the name does not lead to the new segment")
	}
}

func TestCloseHandsOver(t *testing.T) {
	name := testName(t)
	a := mustCreate(t, name, patternSize)
	data, _ := mapData(a)
	copy(data, pattern(patternSize))
	shm.Unmap(data)
	b := mustOpen(t, name)
	c := mustOpen(t, name)
	a.Close() // the binder goes: b or c binds the name
	d := mustOpen(t, name)
	if err := checkPattern(d); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Segment{b, c, d} {
		s.Close()
	}
	unboundSoon(t, name)
	if _, err := Open(name); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("open after every holder closed: %v, want ENOENT", err)
	}
}

func TestUnlinkAfterClose(t *testing.T) {
	t.Run("sole holder", func(t *testing.T) {
		s := mustCreate(t, testName(t), 10)
		s.Close()
		start := time.Now()
		if err := s.Unlink(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > resolveRetry/2 {
			t.Errorf("unlink of a segment the closer knew was gone took %v", d)
		}
		if err := s.Unlink(); !errors.Is(err, unix.ENOENT) {
			t.Fatalf("second unlink: %v, want ENOENT", err)
		}
	})
	t.Run("the other holder closed first", func(t *testing.T) {
		name := testName(t)
		a := mustCreate(t, name, 10)
		mustOpen(t, name).Close() // its link may not have been reaped by a's goroutine yet
		a.Close()
		start := time.Now()
		if err := a.Unlink(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > resolveRetry/2 {
			t.Errorf("unlink of a segment whose other holder had closed took %v", d)
		}
	})
	t.Run("another holds it", func(t *testing.T) {
		name := testName(t)
		a := mustCreate(t, name, 10)
		b := mustOpen(t, name)
		a.Close()
		if err := a.Unlink(); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(name); !errors.Is(err, unix.ENOENT) {
			t.Fatalf("open after unlink: %v, want ENOENT", err)
		}
		if err := b.Unlink(); !errors.Is(err, unix.ENOENT) {
			t.Fatalf("holder's unlink after it: %v, want ENOENT", err)
		}
	})
}

func TestConcurrentCreate(t *testing.T) {
	name := testName(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Create(name, 10)
			if err == nil {
				t.Cleanup(func() { s.Close() })
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, unix.EEXIST):
			t.Errorf("a losing creator got %v, want EEXIST", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creators won, want 1", won)
	}
}

func TestConcurrentOpenClose(t *testing.T) {
	name := testName(t)
	a := mustCreate(t, name, patternSize)
	data, _ := mapData(a)
	copy(data, pattern(patternSize))
	shm.Unmap(data)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				s, err := Open(name)
				if err != nil {
					t.Errorf("goroutine %d, open %d: %v", g, i, err)
					return
				}
				if err := checkPattern(s); err != nil {
					t.Error(err)
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
}

// openFds counts this process's descriptors.
func openFds(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list /proc/self/fd: %v", err)
	}
	return len(entries)
}

func TestNoDescriptorLeak(t *testing.T) {
	name := testName(t)
	before := openFds(t)
	for range 20 {
		a, err := Create(name, 4096)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		b.Unlink()
		a.Close()
		b.Close()
	}
	if _, err := Open("gompx-test-never-created"); !errors.Is(err, unix.ENOENT) {
		t.Fatal(err)
	}
	// The other end of a link closes when its goroutine sees the hang-up: give it a moment.
	deadline := time.Now().Add(2 * time.Second)
	for openFds(t) > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := openFds(t); after > before {
		t.Fatalf("%d descriptors before, %d after", before, after)
	}
}

func TestAdopt(t *testing.T) {
	name := testName(t)
	a := mustCreate(t, name, 10)
	fd, err := unix.Dup(a.Fd())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Adopt(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Name() != name || b.Size() != 10 {
		t.Fatalf("adopted %q of %d bytes", b.Name(), b.Size())
	}
	a.Close() // b is a holder: it serves the name now
	c := mustOpen(t, name)
	c.Close()
	if err := b.Unlink(); err != nil {
		t.Fatal(err)
	}

	// An unlinked segment is adopted all the same, unnamed.
	fd, _ = unix.Dup(b.Fd())
	d, err := Adopt(fd)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Unlink(); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("unlink of an adopted unlinked segment: %v, want ENOENT", err)
	}
	d.Close()
}

func TestAdoptRefuses(t *testing.T) {
	unsealed, err := shm.Create("gompx-test-unsealed", 8192, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unsealed.Close()
	foreign, err := shm.CreateSealed("gompx-test-foreign", 8192) // sealed, no header
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fd   int
	}{
		{"unsealed memory file", unsealed.Fd()},
		{"sealed file without a header", foreign},
		{"not a descriptor", -1},
	}
	for _, tt := range tests {
		fd := tt.fd
		if fd >= 0 {
			fd, _ = unix.Dup(fd)
		}
		if s, err := Adopt(fd); err == nil {
			s.Close()
			t.Errorf("%s: adopted", tt.name)
		}
	}
	unix.Close(foreign)
}
