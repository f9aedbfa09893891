package shm

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestCreateOpenShare(t *testing.T) {
	tests := []struct {
		name     string
		size     int64
		populate bool
	}{
		{"one page", 4096, false},
		{"populated", 64 << 10, true},
		{"sparse", 1 << 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Create("gompx-test", tt.size, tt.populate)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if int64(len(a.Bytes())) != tt.size {
				t.Fatalf("mapped %d bytes, want %d", len(a.Bytes()), tt.size)
			}
			fd, err := unix.Dup(a.Fd())
			if err != nil {
				t.Fatal(err)
			}
			b, err := Open(fd, false)
			if err != nil {
				t.Fatal(err)
			}
			a.Bytes()[tt.size-1] = 42
			if got := b.Bytes()[tt.size-1]; got != 42 {
				t.Fatalf("second mapping reads %d, want 42", got)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if a.Bytes()[tt.size-1] != 42 {
				t.Fatal("closing one mapping changed the other")
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	fds := make([]int, 2)
	if err := unix.Pipe(fds); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if _, err := Open(fds[0], false); err == nil {
		t.Fatal("Open mapped a pipe")
	}
	if _, err := Open(-1, false); err == nil {
		t.Fatal("Open accepted fd -1")
	}
}

func TestCreateSealed(t *testing.T) {
	fd, err := CreateSealed("gompx-test-sealed", 8192)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	size, err := CheckSealed(fd)
	if err != nil || size != 8192 {
		t.Fatalf("CheckSealed = %d, %v; want 8192, nil", size, err)
	}
	for _, tt := range []struct {
		name string
		size int64
	}{{"shrink", 4096}, {"grow", 16384}} {
		if err := unix.Ftruncate(fd, tt.size); err != unix.EPERM {
			t.Errorf("%s a sealed file: %v, want EPERM", tt.name, err)
		}
	}
	mem, err := MapRange(fd, 4096, 4096)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := MapRange(fd, 0, 8192)
	if err != nil {
		t.Fatal(err)
	}
	mem[0] = 7
	if whole[4096] != 7 {
		t.Fatal("a range mapping does not share the file")
	}
	if err := Unmap(mem); err != nil {
		t.Fatal(err)
	}
	if err := Unmap(whole); err != nil {
		t.Fatal(err)
	}
	if err := Unmap(nil); err != nil {
		t.Fatal(err)
	}
}

func TestCheckSealedRefusesUnsealed(t *testing.T) {
	s, err := Create("gompx-test-unsealed", 4096, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := CheckSealed(s.Fd()); err == nil {
		t.Fatal("CheckSealed accepted a file whose size anyone may change")
	}
}
