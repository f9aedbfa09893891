// Package shmring is a single-producer single-consumer byte ring in shared memory,
// for moving large payloads between two processes with one copy on each side.
//
// The creator makes an anonymous memory file (memfd_create), sizes it and maps it
// MAP_SHARED; it then hands the file descriptor to the other process (gompx sends it
// as SCM_RIGHTS), which maps the same file with Open. Whoever holds the fd may map it;
// the memory disappears when the last mapping and the last fd are gone, so nothing is
// ever left behind in /dev/shm.
//
// Layout of the file (one layout on every architecture; offsets in bytes):
//
//	0     header (see the header struct: one comment per field, who writes, who reads)
//	4096  data: Size bytes, Size a power of two; byte i of the stream lives at i % Size
//
// Head and Tail count bytes since creation and never wrap in practice (2^64 bytes).
// The producer owns Head, the consumer owns Tail; Head-Tail bytes are readable and
// Size-(Head-Tail) are free. Each side sleeps on a futex word the other side bumps,
// and the other side only makes the wake system call when the sleeper has raised its
// waiting flag, so a busy ring costs no system calls at all.
//
// Sleeps are cut in slices of WaitSlice; after each slice the ring calls the caller's
// alive function (gompx checks the socket for hang-up), so a dead peer gives an error,
// not a hang. The ring does not frame messages, does not know who its peer is, and is
// not safe for two producers or two consumers at once.
package shmring
