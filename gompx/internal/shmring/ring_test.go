package shmring

import (
	"bytes"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The header layout is part of the cross-process contract: pin every offset.
func TestHeaderLayout(t *testing.T) {
	var h header
	offsets := []struct {
		name      string
		got, want uintptr
	}{
		{"Magic", unsafe.Offsetof(h.Magic), 0},
		{"Size", unsafe.Offsetof(h.Size), 8},
		{"Head", unsafe.Offsetof(h.Head), 64},
		{"HeadSeq", unsafe.Offsetof(h.HeadSeq), 72},
		{"ProdWaiting", unsafe.Offsetof(h.ProdWaiting), 76},
		{"Tail", unsafe.Offsetof(h.Tail), 128},
		{"TailSeq", unsafe.Offsetof(h.TailSeq), 136},
		{"ConsWaiting", unsafe.Offsetof(h.ConsWaiting), 140},
		{"sizeof", unsafe.Sizeof(h), 192},
	}
	for _, o := range offsets {
		if o.got != o.want {
			t.Errorf("%s at %d, want %d", o.name, o.got, o.want)
		}
	}
}

// pair returns a producer ring and a consumer ring mapping the same file, as two
// processes would.
func pair(t testing.TB, size int) (prod, cons *Ring) {
	t.Helper()
	prod, err := Create(size)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			t.Skip("memfd_create not available (ENOSYS)")
		}
		t.Fatal(err)
	}
	fd, err := unix.FcntlInt(uintptr(prod.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	cons, err = Open(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prod.Close(); cons.Close() })
	return prod, cons
}

func TestCreateBadSize(t *testing.T) {
	for _, size := range []int{0, 100, 4095, 5000, -4096} {
		if r, err := Create(size); err == nil {
			r.Close()
			t.Errorf("Create(%d) succeeded", size)
		}
	}
}

func TestOpenNotARing(t *testing.T) {
	fd, err := unix.MemfdCreate("not-a-ring", unix.MFD_CLOEXEC)
	if err != nil {
		t.Skip("memfd_create:", err)
	}
	defer unix.Close(fd)
	for _, size := range []int64{0, 4096, 8192} {
		unix.Ftruncate(fd, size)
		if r, err := Open(fd); !errors.Is(err, ErrBadRing) {
			if r != nil {
				r.Close()
			}
			t.Errorf("Open(file of %d bytes) = %v, want ErrBadRing", size, err)
		}
	}
}

func TestStream(t *testing.T) {
	const size = 1 << 16
	for _, n := range []int{0, 1, size - 1, size, size + 1, 3*size + 7, 40 * size} {
		prod, cons := pair(t, size)
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(rand.Uint32())
		}
		errc := make(chan error, 1)
		go func() { errc <- prod.Write(src, nil) }()
		dst := make([]byte, n)
		if err := cons.Read(dst, nil); err != nil {
			t.Fatalf("n=%d: Read: %v", n, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("n=%d: Write: %v", n, err)
		}
		if !bytes.Equal(src, dst) {
			t.Fatalf("n=%d: data differs", n)
		}
	}
}

// Messages of random sizes keep their order and content across wrap-around, with
// reads, discards and small writes interleaved.
func TestManyMessages(t *testing.T) {
	prod, cons := pair(t, 1<<14)
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int, 300)
	for i := range sizes {
		sizes[i] = rng.IntN(50000)
	}
	errc := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			if err := prod.Write(bytes.Repeat([]byte{byte(i)}, n), nil); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i, n := range sizes {
		if i%3 == 0 {
			if err := cons.Discard(int64(n), nil); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b := make([]byte, n)
		if err := cons.Read(b, nil); err != nil {
			t.Fatal(err)
		}
		if want := crc32.ChecksumIEEE(bytes.Repeat([]byte{byte(i)}, n)); crc32.ChecksumIEEE(b) != want {
			t.Fatalf("message %d corrupted", i)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// A producer blocked on a full ring gives up with the alive error, after a slice.
func TestAliveStopsWriter(t *testing.T) {
	prod, _ := pair(t, 4096)
	dead := errors.New("peer gone")
	start := time.Now()
	err := prod.Write(make([]byte, 10000), func() error { return dead })
	if err != dead {
		t.Fatalf("Write = %v, want %v", err, dead)
	}
	if d := time.Since(start); d > 5*WaitSlice {
		t.Fatalf("gave up after %v", d)
	}
}

// A consumer whose producer died still gets what was published before the death.
func TestAliveAfterPublish(t *testing.T) {
	prod, cons := pair(t, 4096)
	if err := prod.Write([]byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	dead := errors.New("peer gone")
	b := make([]byte, 5)
	if err := cons.Read(b, func() error { return dead }); err != nil || string(b) != "hello" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if err := cons.Read(b, func() error { return dead }); err != dead {
		t.Fatalf("Read past data = %v, want %v", err, dead)
	}
}

func BenchmarkStream1MiB(b *testing.B) {
	prod, cons := pair(b, 4<<20)
	src := make([]byte, 1<<20)
	dst := make([]byte, 1<<20)
	b.SetBytes(int64(len(src)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range b.N {
			prod.Write(src, nil)
		}
	}()
	for range b.N {
		cons.Read(dst, nil)
	}
	<-done
}
