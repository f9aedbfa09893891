package arena

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	childEnv    = "ARENA_TEST_CHILD"
	childOffEnv = "ARENA_TEST_OFFSET"
)

// A child is this test binary run again with childEnv naming its scenario; it finds the
// arena at fd 3 and a block's offset in childOffEnv.
func TestMain(m *testing.M) {
	if fpChildMain != nil {
		fpChildMain()
	}
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "write":
		os.Exit(openChild())
	case "release-last":
		os.Exit(releaseLastChild())
	default:
		fmt.Fprintln(os.Stderr, "unknown child scenario", os.Getenv(childEnv))
		os.Exit(2)
	}
}

// openChild checks the block holds pattern(0), writes pattern(1) over it and drops the
// reference it was handed.
func openChild() int {
	a, err := Open(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	off, _ := strconv.ParseInt(os.Getenv(childOffEnv), 10, 64)
	b, err := a.Bytes(off)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if !bytes.Equal(b[:len(pattern(0))], pattern(0)) {
		fmt.Fprintln(os.Stderr, "child: the block does not hold what the parent wrote")
		return 3
	}
	copy(b, pattern(1))
	if freed, err := a.Release(off); err != nil || freed {
		fmt.Fprintln(os.Stderr, "child: release:", freed, err)
		return 4
	}
	return 0
}

// fpChildMain, set in a gompx_failpoints build, runs a failpoint test's child.
var fpChildMain func()

func pattern(seed byte) []byte {
	return bytes.Repeat([]byte{0xa5 ^ seed, seed, 0x5a, seed + 1}, 1024)
}

func newArena(t testing.TB) *Arena {
	t.Helper()
	a, err := Create()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func alloc(t testing.TB, a *Arena, size int) (int64, []byte) {
	t.Helper()
	off, err := a.Alloc(size)
	if err != nil {
		t.Fatalf("Alloc(%d): %v", size, err)
	}
	b, err := a.Bytes(off)
	if err != nil {
		t.Fatalf("Bytes(%d): %v", off, err)
	}
	return off, b
}

func TestAllocClasses(t *testing.T) {
	a := newArena(t)
	for _, tt := range []struct {
		size, capacity int
	}{
		{0, 48},
		{1, 48},
		{48, 48},
		{49, 112},
		{1000, 1008},
		{64<<10 - HeaderSize, 64<<10 - HeaderSize},
		{64 << 10, 128<<10 - HeaderSize},
		{3 << 20, 4<<20 - HeaderSize},
	} {
		off, b := alloc(t, a, tt.size)
		if len(b) != tt.capacity || cap(b) != tt.capacity {
			t.Errorf("Alloc(%d): %d bytes (cap %d), want %d", tt.size, len(b), cap(b), tt.capacity)
		}
		if off%16 != 0 || tt.capacity >= 64<<10-HeaderSize && (off-HeaderSize)%page != 0 {
			t.Errorf("Alloc(%d) at %d: misaligned", tt.size, off)
		}
		if a.Refs(off) != 1 {
			t.Errorf("Alloc(%d): %d refs, want 1", tt.size, a.Refs(off))
		}
	}
	if _, err := a.Alloc(-1); err == nil {
		t.Error("Alloc(-1) succeeded")
	}
}

// TestReuseZeroed frees a block full of data and allocates its class again: the same
// block comes back, zeroed, including the pages that were punched out.
func TestReuseZeroed(t *testing.T) {
	a := newArena(t)
	for _, size := range []int{40, 4000, 64<<10 - HeaderSize, 1<<20 + 5} {
		off, b := alloc(t, a, size)
		for i := range b {
			b[i] = byte(i) | 1
		}
		if freed, err := a.Release(off); err != nil || !freed {
			t.Fatalf("Release: %v, %v; want freed", freed, err)
		}
		if _, err := a.Bytes(off); err == nil {
			t.Fatalf("Bytes of a freed block succeeded")
		}
		again, b := alloc(t, a, size)
		if again != off {
			t.Fatalf("size %d: reused %d, want the freed %d", size, again, off)
		}
		if i := bytes.IndexFunc(b, func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("size %d: byte %d of a reused block is not zero", size, i)
		}
		other, _ := alloc(t, a, size)
		if other == off {
			t.Fatalf("size %d: a live block handed out twice", size)
		}
	}
}

func TestRefcounts(t *testing.T) {
	a := newArena(t)
	off, _ := alloc(t, a, 100)
	steps := []struct {
		op      string
		wantErr bool
		freed   bool
		refs    int32
	}{
		{"retain", false, false, 2},
		{"retain", false, false, 3},
		{"release", false, false, 2},
		{"release", false, false, 1},
		{"release", false, true, 0},
		{"release", true, false, 0}, // double release
		{"retain", true, false, 0},  // retain of a freed block
		{"release", true, false, 0}, // ... must not have counted, or this frees it again
	}
	for i, s := range steps {
		var err error
		var freed bool
		if s.op == "retain" {
			err = a.Retain(off)
		} else {
			freed, err = a.Release(off)
		}
		if (err != nil) != s.wantErr || freed != s.freed || a.Refs(off) != s.refs {
			t.Fatalf("step %d (%s): freed %v, err %v, refs %d; want freed %v, error %v, refs %d",
				i, s.op, freed, err, a.Refs(off), s.freed, s.wantErr, s.refs)
		}
	}
	// The block is on the free list once: two allocations get two blocks.
	x, _ := alloc(t, a, 100)
	y, _ := alloc(t, a, 100)
	if x == y {
		t.Fatalf("one block handed out twice (%d)", x)
	}
}

// TestFull fills the 16 GiB address space with 8 GiB blocks (sparse: nothing is touched
// but the header pages).
func TestFull(t *testing.T) {
	a := newArena(t)
	big := 1<<MaxClass - HeaderSize
	first, err := a.Alloc(big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Alloc(big); !errors.Is(err, ErrFull) {
		t.Fatalf("second 8 GiB block: %v, want ErrFull", err)
	}
	if _, err := a.Alloc(big + 1); !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "larger than the largest") {
		t.Fatalf("a block past the largest class: %v", err)
	}
	small, _ := alloc(t, a, 64) // the small classes still fit below
	if _, err := a.Release(first); err != nil {
		t.Fatal(err)
	}
	if again, err := a.Alloc(big); err != nil || again != first {
		t.Fatalf("after a free: %d, %v; want the freed block %d", again, err, first)
	}
	a.Release(small)
}

func allocatedBytes(t testing.TB, a *Arena) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(a.Fd(), &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestPunchReturnsMemory(t *testing.T) {
	a := newArena(t)
	const size = 4<<20 - HeaderSize
	before := allocatedBytes(t, a)
	off, b := alloc(t, a, size)
	for i := 0; i < len(b); i += page {
		b[i] = 1
	}
	filled := allocatedBytes(t, a)
	if filled-before < size*9/10 {
		t.Fatalf("touching %d bytes grew the file by %d", size, filled-before)
	}
	if _, err := a.Release(off); err != nil {
		t.Fatal(err)
	}
	if after := allocatedBytes(t, a); filled-after < size*9/10 {
		t.Fatalf("freeing %d bytes shrank the file by %d", size, filled-after)
	}
	// Small blocks are not punched: their pages hold other blocks too. (The block kept
	// live keeps the arena from being reset, which would punch everything.)
	alloc(t, a, 100)
	off, b = alloc(t, a, 30<<10)
	b[len(b)-1] = 1
	held := allocatedBytes(t, a)
	a.Release(off)
	if allocatedBytes(t, a) != held {
		t.Fatal("freeing a small block changed the file's size on disk")
	}
}

func TestBadOffsets(t *testing.T) {
	a := newArena(t)
	off, b := alloc(t, a, 200)
	// Data that looks like a block header, inside the block.
	copy(b[16:], []byte{1, 0, 0, 0, MinClass, 0, 0, 0})
	freed, _ := alloc(t, a, 64)
	a.Release(freed)
	for _, tt := range []struct {
		name string
		off  int64
	}{
		{"zero", 0},
		{"negative", -16},
		{"in the arena header", 64},
		{"misaligned", off + 1},
		{"inside a block", off + 32},
		{"past the last block", off + 4096},
		{"past the end", Size},
		{"freed", freed},
	} {
		if _, err := a.Bytes(tt.off); err == nil {
			t.Errorf("%s: Bytes(%d) succeeded", tt.name, tt.off)
		}
		if err := a.Retain(tt.off); err == nil {
			t.Errorf("%s: Retain(%d) succeeded", tt.name, tt.off)
		}
		if _, err := a.Release(tt.off); err == nil {
			t.Errorf("%s: Release(%d) succeeded", tt.name, tt.off)
		}
	}
	if a.Refs(off) != 1 {
		t.Fatalf("refused calls changed a live block's refs to %d", a.Refs(off))
	}
}

// TestOpenRefuses opens files that are no arena: refused, and the descriptor stays the
// caller's (a regression: a failed Open closed it, and the caller closed it again).
func TestOpenRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		size int64
	}{
		{"small file", 4096},
		{"arena-sized file without an arena", Size},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := unix.MemfdCreate("not-an-arena", unix.MFD_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Ftruncate(fd, tt.size); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(fd); err == nil {
				t.Fatal("Open succeeded")
			}
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
				t.Fatalf("fd closed by a failed Open: %v", err)
			}
		})
	}
}

// TestOpenInChild hands a block to a child process: it sees the bytes written here,
// its writes show here, and its Release drops the reference Retain made for it.
func TestOpenInChild(t *testing.T) {
	a := newArena(t)
	off, b := alloc(t, a, 8000)
	copy(b, pattern(0))
	if err := a.Retain(off); err != nil {
		t.Fatal(err)
	}
	runChild(t, a, "write", off)
	if !bytes.Equal(b[:len(pattern(1))], pattern(1)) {
		t.Fatal("the child's writes do not show here")
	}
	if a.Refs(off) != 1 {
		t.Fatalf("refs %d after the child's release, want 1", a.Refs(off))
	}
}

// TestConcurrentAlloc allocates and frees from goroutines: no live block is handed out
// twice, and no block's bytes are touched by another's owner.
func TestConcurrentAlloc(t *testing.T) {
	a := newArena(t)
	var live sync.Map
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int64
			for i := 0; i < 300; i++ {
				size := 16 << (i % 8)
				off, err := a.Alloc(size)
				if err != nil {
					t.Error(err)
					return
				}
				if _, dup := live.LoadOrStore(off, g); dup {
					t.Errorf("block %d handed out twice", off)
					return
				}
				b, _ := a.Bytes(off)
				b[0], b[size-1] = byte(g), byte(g)
				mine = append(mine, off)
				if i%3 == 2 {
					victim := mine[0]
					mine = mine[1:]
					vb, _ := a.Bytes(victim)
					if vb[0] != byte(g) {
						t.Errorf("block %d overwritten", victim)
					}
					live.Delete(victim)
					if _, err := a.Release(victim); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// runChild runs scenario in a child that gets the arena as fd 3 and off in childOffEnv.
func runChild(t *testing.T, a *Arena, scenario string, off int64) {
	t.Helper()
	fd, err := unix.FcntlInt(uintptr(a.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "arena")
	defer f.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+scenario, childOffEnv+"="+strconv.FormatInt(off, 10),
		"GORACE=atexit_sleep_ms=0")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v", scenario, err)
	}
}
