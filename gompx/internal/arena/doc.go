// Package arena is a heap in one memory file (memfd) that several processes map: the
// home of gompx's process-shared locks (package psync) and shared ctypes values.
//
// Each process allocates from an arena it created and frees into any arena it maps.
// Blocks are reference counted in the shared memory itself: a block handed to another
// process carries a reference for it (Retain before sending, Release when done), and the
// block returns to the free lists only when the last reference goes. So a block is
// never reused while any process still uses it, which the stdlib's heap (freed when the
// creating process drops its object) does not promise.
//
// The memory itself cannot leak: a memfd has no name in any file system, and the kernel
// frees it when the last process that maps it or holds its descriptor exits, however it
// exits. References a SIGKILLed process held only keep their blocks out of reuse until
// then.
//
// # Layout
//
// The file is Size bytes, sparse: pages exist once touched, and pages of freed blocks of
// 64 KiB or more are punched out again.
//
//	offset  size  field        written by              read by
//	0       8     magic        creator                 Open ("gmpAREN2"; the digit is the header's version)
//	8       8     keep         SetKeep                 Release: an emptied arena smaller than this is not reset
//	16      64    lock         allocators (psync mutex; a dead holder's lock is taken over)
//	80      8     top          allocators, under lock  allocators, Blocks
//	88      8     live         allocators, under lock  Release (reset at 0), Blocks: blocks not on a free list
//	96      8*N   free[class]  allocators, under lock  allocators: head of a list of free blocks
//	4096    ...   blocks       (FirstBlock)
//
// A block of class c is 1<<c bytes (c from MinClass to MaxClass) and starts with a
// 16-byte header: refs (int32, atomic), class (uint32), and a word that links a free
// block to the next one, and in an allocated block holds a tag derived from its offset,
// so that an offset into a block's data (which may look like a header) is refused. Callers see the data after the header: Alloc returns the offset of the
// data, 16 bytes past a multiple of 16 (64 KiB blocks and up start on a page).
//
// # Rules
//
//   - Blocks tile [FirstBlock, top): a new block is cut at top, and the gap that aligning
//     a 64 KiB-or-larger block to a page leaves below it is cut into free blocks of the
//     small classes (largest first). So a walk from FirstBlock, stepping by each header's
//     class, meets every block and ends at top (Blocks).
//   - Everything at and above top reads as zeros: it is untouched, or was punched out.
//     Alloc clears only blocks that come off a free list.
//   - A block is live from the moment it leaves a free list (or is cut) until its last
//     reference is dropped and it is back on one; live counts these. Its class word, its
//     tag and its first reference are written under the lock when it is taken, and its
//     last reference is dropped under the lock: so, outside the lock, a block holds a
//     reference exactly when it is live.
//   - Repair: a process that takes the lock over from one that died holding it (in the
//     middle of a take, a carve, a free or a reset) rebuilds the free lists and live from
//     a walk: blocks with a reference are live, the others go back on a free list; the
//     walk ends at the first header that starts no block, which becomes top, and what
//     lies above top is cleared. The failpoint tests kill a process at each step.
//   - Reset: the Release that brings live to 0 empties the arena under the lock: it
//     punches [FirstBlock, top) out of the file, clears the free lists and sets top back
//     to FirstBlock. It is safe in whichever process does it: a block is only used
//     through a reference, live is 0 only when no process holds one (references of every
//     process count, so a block handed to a child keeps the arena as it is), and no
//     allocation can be in flight, since Alloc counts its block live under the lock
//     before it touches it. Stale offsets into a reset arena are refused (past top, or a
//     header without its tag) like any offset of a freed block. If punching fails, the
//     free lists keep the blocks and nothing is reset. Nor is an arena whose blocks span
//     fewer than keep bytes: reset costs a punch, and a page fault for each page used
//     again (~10 µs for a block allocated and freed alone), which keep spares arenas
//     small enough to stay resident.
package arena
