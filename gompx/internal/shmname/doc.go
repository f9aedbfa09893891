// Package shmname names shared memory segments: the engine under gompx.SharedMemory and
// Python's gompx.shared_memory.
//
// A segment's memory file is its POSIX shared memory object, /dev/shm/<key>, so that
// programs that know nothing of gompx open it with shm_open(3); where /dev/shm cannot be
// used it is a memfd with its size sealed (posix.go). gompx processes never look it up
// in the file system: its name lives in the Linux abstract socket namespace, where a name
// goes away when the socket bound to it closes, on SIGKILL too, and the holders pass the
// descriptor. The file is removed where the segment ends (Unlink, the last holder's
// Close); one left by holders that were all killed is known for stale (nobody serves its
// name) and swept. No tracker process is needed.
//
// Every process that holds a segment runs a holder (goroutines) for it. One holder, the
// binder, has the name bound and answers requests; the others are stand-bys, each with a
// connection (a link) to the binder, on which they wait. When the binder hangs up,
// because its process closed the segment or died, the stand-bys race to bind the name
// (bind is atomic: one wins), and the losers link to the winner. So the name resolves as
// long as any holder lives, and is gone when the last one closes or dies.
//
// Address: "\x00gompx-shm/<euid>/<key>", where the key is the name without leading
// slashes, at most 255 bytes, with no slash or NUL inside (shm_open's rules). A key too
// long for sun_path is replaced by "sha256/<hex digest>". The euid keeps users apart, and
// both ends check the other's SO_PEERCRED: abstract sockets have no permissions, so this
// is what makes a segment as private as a 0600 file. Names are per user and per network
// namespace.
//
// Layout of the memory file (offsets in bytes, one layout on every architecture):
//
//	0         data: Size bytes (where shm_open users expect it)
//	HdrOff    header, one page (the header struct, one comment per field: who writes,
//	          who reads); HdrOff is Size rounded up to whole pages
//
// Requests, one per connection: one op byte and the 16-byte segment ID (zero where
// unused). Replies are one byte.
//
//	op  from                  reply
//	A   an attacher           Y + the memory file (SCM_RIGHTS); the connection then stays
//	                          open as the new holder's link. N if unlinked.
//	S   a stand-by            Y, the connection stays open as its link. N if unlinked,
//	                          M if the name serves another segment (another ID).
//	P   a creator that found  Y if live, N if unlinked (the name is on its way out)
//	    the name bound
//	U   an unlinker           K if this request set the unlinked flag, N if it was set;
//	                          either way the binder then releases the name: it closes its
//	                          listener and every link (stand-bys wake, see the flag, stop).
//	                          M if the name serves another segment.
//	any another user          E
//
// Unlink sets the header's Unlinked flag (compare-and-swap: of two unlinkers, one gets
// ENOENT) and makes the binder release the name, so that the name is free when Unlink
// returns. Holders check the flag before and after binding, binders before answering, and
// attachers after receiving the file: an unlinked segment is never served again, yet its
// memory stays valid in every process that maps it, until the last one closes it.
//
// Races, and what is done about them:
//
//   - Two creators bind one name at once: bind is atomic, the loser gets EEXIST (after a
//     probe: a name that is bound but unlinked is retried for up to a second).
//   - A binder dies: until a stand-by has bound the name again (well under a millisecond
//     when the machine is idle) connects are refused, so Open retries for 100 ms before
//     it reports ENOENT. An unknown name therefore costs 100 ms to refuse.
//   - A creator binds a name in that same moment (its segment's binder just died): it
//     wins, and the old segment's stand-bys, told "another segment" (M), stop serving;
//     their memory stays valid but unnamed. stdlib would have raised FileExistsError.
//   - A binder that is stopped (SIGSTOP), not dead, keeps the name; requests to it time
//     out after 5 s with ETIMEDOUT.
//   - Close does not wait for the holder's goroutines: it shuts the links down (the other
//     ends see the hang-up at once) and wakes the accept loop, which closes the listener
//     a moment later. In that moment a request gets no answer and is retried, so a
//     closed holder never serves; but the name may still show in /proc/net/unix.
//
// What it does not do: resize segments, keep a segment nobody holds (there is no
// persistence: after the last Close without Unlink the segment is gone, where a POSIX
// shared memory object would stay until unlinked), or serve names across users or
// network namespaces.
package shmname
