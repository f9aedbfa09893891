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
//	0       8     magic        creator                 Open
//	16      64    lock         allocators (psync mutex; a dead holder's lock is taken over)
//	80      8     top          allocators, under lock  allocators
//	96      8*N   free[class]  allocators, under lock  allocators: head of a list of free blocks
//	4096    ...   blocks
//
// A block of class c is 1<<c bytes (c from MinClass to MaxClass) and starts with a
// 16-byte header: refs (int32, atomic), class (uint32), and a word that links a free
// block to the next one, and in an allocated block holds a tag derived from its offset,
// so that an offset into a block's data (which may look like a header) is refused. Callers see the data after the header: Alloc returns the offset of the
// data, 16 bytes past a multiple of 16 (64 KiB blocks and up start on a page).
package arena
