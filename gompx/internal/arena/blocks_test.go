package arena

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// releaseLastChild drops the reference it was handed, the block's last: the child frees
// it, resets the arena and sees it empty.
func releaseLastChild() int {
	a, err := Open(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	off, _ := strconv.ParseInt(os.Getenv(childOffEnv), 10, 64)
	if freed, err := a.Release(off); err != nil || !freed {
		fmt.Fprintln(os.Stderr, "child: release:", freed, err)
		return 4
	}
	blocks, top, err := a.Blocks()
	if err != nil || len(blocks) != 0 || top != FirstBlock {
		fmt.Fprintln(os.Stderr, "child: after the last release:", blocks, top, err)
		return 5
	}
	return 0
}

// walk returns the arena's blocks, failing the test on an error or a gap.
func walk(t testing.TB, a *Arena) ([]Block, int64) {
	t.Helper()
	blocks, top, err := a.Blocks()
	if err != nil {
		t.Fatal(err)
	}
	next := int64(FirstBlock)
	for _, b := range blocks {
		if b.Offset != next {
			t.Fatalf("block at %d, want %d (blocks %v)", b.Offset, next, blocks)
		}
		next += b.Size
	}
	if next != top {
		t.Fatalf("blocks end at %d, top is %d", next, top)
	}
	return blocks, top
}

// TestBlocksMatchModel allocates and frees blocks of every size range (small ones, and
// page-aligned ones that leave gaps) in random order, and checks each walk against what
// the test knows is live.
func TestBlocksMatchModel(t *testing.T) {
	a := newArena(t)
	rng := rand.New(rand.NewSource(1))
	live := map[int64]int{} // block offset -> size asked
	for i := 0; i < 2000; i++ {
		if len(live) > 0 && rng.Intn(3) == 0 {
			for block := range live {
				if _, err := a.Release(block + HeaderSize); err != nil {
					t.Fatal(err)
				}
				delete(live, block)
				break
			}
		} else {
			size := rng.Intn(3000)
			if rng.Intn(10) == 0 {
				size = 64<<10 + rng.Intn(200<<10)
			}
			data, _ := alloc(t, a, size)
			live[data-HeaderSize] = size
		}
		if i%50 != 0 {
			continue
		}
		blocks, _ := walk(t, a)
		allocated := 0
		for _, b := range blocks {
			size, isLive := live[b.Offset]
			if b.Free == isLive {
				t.Fatalf("step %d: block at %d free=%v, but the test has it live=%v", i, b.Offset, b.Free, isLive)
			}
			if isLive {
				allocated++
				if b.Refs != 1 || int64(size+HeaderSize) > b.Size {
					t.Fatalf("step %d: live block %+v for %d bytes", i, b, size)
				}
			}
		}
		if allocated != len(live) {
			t.Fatalf("step %d: walk found %d live blocks, the test holds %d", i, allocated, len(live))
		}
	}
}

// TestGapCarved cuts a page-aligned block after a small one: the gap below it becomes
// free blocks, which later allocations use.
func TestGapCarved(t *testing.T) {
	a := newArena(t)
	small, _ := alloc(t, a, 40)
	big, _ := alloc(t, a, 64<<10)
	if want := int64(2*page + HeaderSize); big != want {
		t.Fatalf("page-aligned block at %d, want %d", big, want)
	}
	blocks, _ := walk(t, a)
	var sizes []int64
	for _, b := range blocks[1 : len(blocks)-1] {
		if !b.Free {
			t.Fatalf("gap block %+v is not free", b)
		}
		sizes = append(sizes, b.Size)
	}
	if fmt.Sprint(sizes) != "[2048 1024 512 256 128 64]" {
		t.Fatalf("gap cut into %v", sizes)
	}
	// The gap's blocks are handed out, zeroed, before the top grows.
	data, b := alloc(t, a, 2000)
	if data != small+64 {
		t.Fatalf("a 2 KiB block at %d, want the gap's at %d", data, small+64)
	}
	if bytes.IndexFunc(b, func(r rune) bool { return r != 0 }) >= 0 {
		t.Fatal("a block from the gap is not zeroed")
	}
}

// TestResetReturnsMemory frees every block of an arena: the walk finds none, the file
// holds no more than its header page, and the next block is cut from the bottom again,
// zeroed.
func TestResetReturnsMemory(t *testing.T) {
	a := newArena(t)
	empty := allocatedBytes(t, a)
	var offs []int64
	for _, size := range []int{100, 5000, 1 << 20, 300, 70 << 10} {
		off, b := alloc(t, a, size)
		for i := range b {
			b[i] = 0xee
		}
		offs = append(offs, off)
	}
	if allocatedBytes(t, a) < empty+1<<20 {
		t.Fatal("writing the blocks did not grow the file")
	}
	for i, off := range offs {
		freed, err := a.Release(off)
		if err != nil || !freed {
			t.Fatalf("Release: %v, %v", freed, err)
		}
		if blocks, _ := walk(t, a); (len(blocks) == 0) != (i == len(offs)-1) {
			t.Fatalf("after %d of %d frees, %d blocks", i+1, len(offs), len(blocks))
		}
	}
	if _, top := walk(t, a); top != FirstBlock {
		t.Fatalf("top %d after the reset, want %d", top, FirstBlock)
	}
	if got := allocatedBytes(t, a); got > empty {
		t.Fatalf("file holds %d bytes after every block was freed, %d when new", got, empty)
	}
	for _, off := range offs {
		if _, err := a.Bytes(off); err == nil {
			t.Fatalf("Bytes(%d) of a block of the reset arena succeeded", off)
		}
	}
	off, b := alloc(t, a, 5000)
	if off != FirstBlock+HeaderSize {
		t.Fatalf("first block after the reset at %d, want %d", off, FirstBlock+HeaderSize)
	}
	if bytes.IndexFunc(b, func(r rune) bool { return r != 0 }) >= 0 {
		t.Fatal("a block cut after the reset is not zeroed")
	}
}

// TestKeepSparesSmallArenas: an emptied arena smaller than its keep setting keeps its
// blocks (and their memory) for reuse; a larger one is reset. The setting lives in the
// shared header, where any process's Release reads it.
func TestKeepSparesSmallArenas(t *testing.T) {
	a := newArena(t)
	a.SetKeep(1 << 20)
	fd, err := unix.FcntlInt(uintptr(a.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Keep() != 1<<20 {
		t.Fatalf("another mapping reads keep %d", other.Keep())
	}
	off, b := alloc(t, a, 5000)
	b[0] = 1
	held := allocatedBytes(t, a)
	other.Release(off)
	if blocks, _ := walk(t, a); len(blocks) != 1 || !blocks[0].Free {
		t.Fatalf("a small emptied arena: %+v, want its block kept, free", blocks)
	}
	if allocatedBytes(t, a) != held {
		t.Fatal("a kept arena gave memory back")
	}
	if again, _ := alloc(t, a, 5000); again != off {
		t.Fatalf("the kept block was not reused: %d, want %d", again, off)
	} else {
		a.Release(again)
	}
	big, _ := alloc(t, a, 1<<20)
	a.Release(big)
	if blocks, top := walk(t, a); len(blocks) != 0 || top != FirstBlock {
		t.Fatalf("an emptied arena past keep: %d blocks, top %d; want it reset", len(blocks), top)
	}
}

// TestResetWaitsForEveryProcess: a block another process holds a reference to keeps the
// arena from resetting; that process's release, the last, resets it.
func TestResetWaitsForEveryProcess(t *testing.T) {
	a := newArena(t)
	off, _ := alloc(t, a, 8000)
	if err := a.Retain(off); err != nil {
		t.Fatal(err)
	}
	if freed, err := a.Release(off); err != nil || freed {
		t.Fatalf("Release of one of two references: %v, %v", freed, err)
	}
	if blocks, _ := walk(t, a); len(blocks) != 1 || blocks[0].Free || blocks[0].Refs != 1 {
		t.Fatalf("the child's block: %+v", blocks)
	}
	runChild(t, a, "release-last", off)
	if blocks, top := walk(t, a); len(blocks) != 0 || top != FirstBlock {
		t.Fatalf("after the child's last release: %+v, top %d", blocks, top)
	}
}

// TestBlocksDetectsCorruption: a header or a free list that disagrees with the walk is an
// error, not a wrong answer or a panic.
func TestBlocksDetectsCorruption(t *testing.T) {
	for _, tt := range []struct {
		name  string
		spoil func(a *Arena, live, free int64)
	}{
		{"class zeroed", func(a *Arena, live, free int64) { a.setClass(live-HeaderSize, 0) }},
		{"class too big", func(a *Arena, live, free int64) { a.setClass(free-HeaderSize, MaxClass) }},
		{"free list into a block", func(a *Arena, live, free int64) {
			*a.word64(free - HeaderSize + 8) = uint64(live)
		}},
		{"free list loops", func(a *Arena, live, free int64) {
			*a.word64(free - HeaderSize + 8) = uint64(free - HeaderSize)
		}},
		{"live count", func(a *Arena, live, free int64) { *a.word64(liveOffset) += 1 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newArena(t)
			free, _ := alloc(t, a, 10)
			live, _ := alloc(t, a, 10)
			a.Release(free)
			walk(t, a)
			tt.spoil(a, live, free)
			if blocks, top, err := a.Blocks(); err == nil {
				t.Fatalf("walk of a spoiled arena: %+v, top %d, no error", blocks, top)
			}
		})
	}
}

// TestBlocksWhileAllocating walks while goroutines allocate and free: every walk tiles
// the arena and agrees with the live count, which Blocks checks itself.
func TestBlocksWhileAllocating(t *testing.T) {
	a := newArena(t)
	keep, _ := alloc(t, a, 10) // no reset midway: the walk must also see blocks in flight
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var mine []int64
			for i := 0; i < 500; i++ {
				off, err := a.Alloc((g*977 + i*131) % (1 << (6 + i%12)))
				if err != nil {
					t.Error(err)
					return
				}
				mine = append(mine, off)
				if len(mine) > 20 {
					if _, err := a.Release(mine[0]); err != nil {
						t.Error(err)
						return
					}
					mine = mine[1:]
				}
			}
			for _, off := range mine {
				a.Release(off)
			}
		}(g)
	}
	walked := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				walked <- n
				return
			default:
			}
			if _, _, err := a.Blocks(); err != nil {
				t.Error(err)
			}
			n++
		}
	}()
	wg.Wait()
	close(stop)
	if n := <-walked; n == 0 {
		t.Log("no walk overlapped the allocations")
	}
	a.Release(keep)
	if blocks, _ := walk(t, a); len(blocks) != 0 {
		t.Fatalf("%d blocks left after every block was freed", len(blocks))
	}
}

// BenchmarkAllocRelease: one block allocated and freed, alone in its arena (every Release
// resets the arena: punch, then a page fault on the next use), alone in an arena that
// SetKeep spares, or beside a live block.
func BenchmarkAllocRelease(b *testing.B) {
	for _, tt := range []struct {
		name       string
		keep, live bool
	}{{"alone-resets", false, false}, {"alone-kept", true, false}, {"beside-a-live-block", false, true}} {
		b.Run(tt.name, func(b *testing.B) {
			a := newArena(b)
			if tt.keep {
				a.SetKeep(1 << 20)
			}
			if tt.live {
				alloc(b, a, 10)
			}
			for i := 0; i < b.N; i++ {
				off, err := a.Alloc(100)
				if err != nil {
					b.Fatal(err)
				}
				bs, _ := a.Bytes(off)
				bs[0] = 1
				a.Release(off)
			}
		})
	}
}
