package pickle

import (
	"math/bits"
	"slices"
	"sync"
)

// memoTable is the encoder's identity memo, from memoKey to memo index. It
// does a Go map's job for less: the keys sit in one append-only slice, in
// the order written, which also keeps every value the encoder memoized
// alive (so a Reducer's temporary cannot be freed and its address reused
// while encoding); the hash table over them is open-addressed with linear
// probing, at most half full, and holds only 8-byte words the garbage
// collector need not scan: a 32-bit hash tag and the entry's position.
type memoTable struct {
	entries []memoEntry
	slots   []uint64 // 0: empty; else tag<<32 | position in entries + 1
	shift   uint     // 64 - log2(len(slots)); slots are found by hash >> shift
	small   [8]uint64
	first   [4]memoEntry // the first entries: small values allocate nothing here
}

type memoEntry struct {
	key memoKey
	idx uint32
}

func (k memoKey) hash() uint64 {
	h := uint64(uintptr(k.p)) ^ uint64(k.n)<<40 ^ uint64(k.kind)<<32
	return h * 0x9e3779b97f4a7c15 // Fibonacci hashing: the high bits are well mixed
}

// find returns the slot of k, or of the empty slot where k would go.
func (t *memoTable) find(k memoKey) (int, bool) {
	h := k.hash()
	tag, mask := h>>32, uint64(len(t.slots)-1)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return int(i), false
		}
		if s>>32 == tag && t.entries[uint32(s)-1].key == k {
			return int(i), true
		}
	}
}

// get returns the memo index of k.
func (t *memoTable) get(k memoKey) (uint32, bool) {
	if len(t.entries) == 0 {
		return 0, false
	}
	i, ok := t.find(k)
	if !ok {
		return 0, false
	}
	return t.entries[uint32(t.slots[i])-1].idx, true
}

// put records k at memo index idx, replacing an earlier index.
func (t *memoTable) put(k memoKey, idx uint32) {
	if 2*(len(t.entries)+1) > len(t.slots) {
		t.grow()
	}
	i, ok := t.find(k)
	if ok {
		t.entries[uint32(t.slots[i])-1].idx = idx
		return
	}
	t.entries = append(t.entries, memoEntry{k, idx})
	t.slots[i] = k.hash()>>32<<32 | uint64(len(t.entries))
}

// grow doubles the slots, placing each by its tag alone.
func (t *memoTable) grow() {
	old := t.slots
	if len(old) == 0 {
		t.slots, t.entries = t.small[:], t.first[:0]
	} else {
		t.slots = make([]uint64, 2*len(old))
	}
	// Room for every entry until the next growth, so that entries is
	// copied once per doubling, not at append's smaller steps.
	t.entries = slices.Grow(t.entries, len(t.slots)/2-len(t.entries))
	t.shift = uint(64 - bits.TrailingZeros(uint(len(t.slots))))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := (s >> 32) >> (t.shift - 32)
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// memoPool keeps tables between pickles: a table and its entries are
// allocated once for a run of similar values, not once per pickle.
var memoPool = sync.Pool{New: func() any { return new(memoTable) }}

// maxPooledSlots bounds a pooled table (1 MiB of slots).
const maxPooledSlots = 1 << 17

func newMemoTable() *memoTable { return memoPool.Get().(*memoTable) }

// release empties t, so that it keeps no value alive, and pools it. A table
// much larger than this use needed goes back to its inline size, so that a
// small pickle never pays for clearing a large table.
func (t *memoTable) release() {
	if len(t.slots) > maxPooledSlots || 8*len(t.entries) < len(t.slots) {
		clear(t.first[:])
		clear(t.small[:])
		t.slots, t.entries, t.shift = nil, nil, 0
	} else {
		clear(t.entries)
		clear(t.slots)
		t.entries = t.entries[:0]
	}
	memoPool.Put(t)
}
