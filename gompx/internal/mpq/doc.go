// Package mpq is a multi-producer multi-consumer queue of variable-length messages in
// shared memory: the engine under gompx.Queue.
//
// The creator makes an anonymous memory file (memfd_create) and maps it MAP_SHARED;
// every process that holds the descriptor maps the same file with Open. The memory
// disappears with the last descriptor and mapping, so nothing is ever left in /dev/shm.
//
// Layout of the file (offsets in bytes, one layout on every architecture):
//
//	0     header: the header struct, one comment per field (who writes, who reads)
//	4096  data: Capacity bytes; byte i of the stream lives at i % Capacity
//
// The data is a stream of records, each 8-byte aligned:
//
//	0   uint32  payload length of this chunk (a skip record: bytes skipped, header included)
//	4   uint8   flags: first chunk, last chunk, skip
//	5   uint8   kind: the message's encoding, chosen by the layer above
//	6   uint16  zero
//	8   uint32  producer pid
//	12  uint32  zero
//	16  uint64  total message length (first chunk only)
//	24  payload
//
// A message is one or more chunks; a message that fits half the ring is one chunk.
// A skip record fills the tail end of the ring when the next record does not fit before
// the wrap, or sends the producer back to the start of the ring (below).
//
// Two locks, one per side, serialise producers among themselves and consumers among
// themselves; a producer and a consumer never wait for each other's lock. Head and Tail
// count bytes since creation. A side sleeps on a futex word the other side bumps, and
// the other side makes the wake system call only when a sleeper has registered, so a busy
// queue makes no system calls; a side that finds nothing to do spins briefly first.
//
// Death is survivable. The lock words hold the owner's pid; a waiter that has slept a
// WaitSlice checks the owner and takes over a dead owner's lock. Each side changes shared
// state in one journaled step (new position and counters written to a journal, the
// journal marked valid, the values applied, the journal cleared), and the next owner
// replays a valid journal, so a process killed at any instruction leaves state a successor
// can continue from:
//
//   - a producer killed while writing loses only that message: its chunks were either
//     never published, or are torn (no last chunk) and consumers discard them;
//   - a consumer killed while reading loses at most the message it was reading; one killed
//     before its journaled commit loses nothing, the message is read again by the next.
//
// Memory: the file is sparse. Producers go back to the start of the ring whenever they
// are past SoftLimit and the queue holds less than half of it, so a queue that keeps up
// cycles through the same hot SoftLimit bytes; a backlog grows into the rest of the ring,
// and consumers punch those pages out of the file (fallocate PUNCH_HOLE) once read. A
// queue holds about SoftLimit plus its unread bytes of memory, never the whole ring.
//
// The package moves bytes; it does not encode values, buffer for producers that must not
// block, or know about Python. gompx.Queue does those.
package mpq
