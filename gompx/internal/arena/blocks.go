package arena

import (
	"sync/atomic"

	"github.com/gompx/gompx/gompx/internal/errs"
)

// Block is one block of an arena, as Blocks saw it.
type Block struct {
	Offset int64 // of the block's header in the arena file; its data starts HeaderSize later
	Size   int64 // 1<<class bytes, header included
	Free   bool  // on a free list
	Refs   int32 // references when Blocks looked (0 for a free block)
}

// Blocks lists the arena's blocks in address order and returns its top. They tile
// [FirstBlock, top) without a gap. An arena with no live block was reset and has none.
//
// The walk holds the arena's lock, so allocations and frees in any process wait for it:
// what it returns is one consistent state. A block counts as free when it is on a free
// list, so one whose last reference is being dropped right now shows as allocated (with 0
// references) until its Release has put it there. A walk that finds the header and the
// blocks disagree (a bug, or a foreign write) returns an error.
func (a *Arena) Blocks() (blocks []Block, top int64, err error) {
	if err := a.lockArena(); err != nil {
		return nil, 0, errs.Errorf("walk arena: %w", err)
	}
	defer a.lock.Unlock()
	top = int64(atomic.LoadUint64(a.word64(topOffset)))
	free, err := a.freeBlocks(top)
	if err != nil {
		return nil, 0, err
	}
	var live uint64
	for off := int64(FirstBlock); off < top; {
		c := int64(atomic.LoadUint32(a.classWord(off)))
		if c < MinClass || c > MaxClass || off+1<<c > top || c >= punchClass && off%page != 0 {
			return nil, 0, errs.Errorf("walk arena: no block at offset %d (class %d, top %d)", off, c, top)
		}
		b := Block{Offset: off, Size: 1 << c, Free: free[off] == c}
		if b.Free {
			delete(free, off)
		} else {
			b.Refs = atomic.LoadInt32(a.refs(off + HeaderSize))
			live++
		}
		blocks = append(blocks, b)
		off += 1 << c
	}
	for off, c := range free {
		return nil, 0, errs.Errorf("walk arena: the class %d free list holds offset %d, which starts no block of its class", c, off)
	}
	if n := atomic.LoadUint64(a.word64(liveOffset)); n != live {
		return nil, 0, errs.Errorf("walk arena: %d blocks are not free, the header counts %d live", live, n)
	}
	return blocks, top, nil
}

// freeBlocks maps the offset of every block on a free list to its list's class. Hold the
// lock.
func (a *Arena) freeBlocks(top int64) (map[int64]int64, error) {
	free := make(map[int64]int64)
	limit := (top - FirstBlock) / (1 << MinClass) // more links than blocks fit: a cycle
	for c := int64(MinClass); c <= MaxClass; c++ {
		for off := int64(atomic.LoadUint64(a.word64(freeOffset + 8*c))); off != 0; {
			if off < FirstBlock || off+1<<c > top || off%16 != 0 {
				return nil, errs.Errorf("walk arena: the class %d free list links to offset %d, outside [%d, %d)", c, off, FirstBlock, top)
			}
			if _, dup := free[off]; dup || int64(len(free)) >= limit {
				return nil, errs.Errorf("walk arena: the class %d free list loops at offset %d", c, off)
			}
			free[off] = c
			off = int64(atomic.LoadUint64(a.word64(off + 8)))
		}
	}
	return free, nil
}
