// Package gompx is the Go core of gompx, a drop-in alternative to Python's
// multiprocessing: processes, connections between them, queues, locks and shared
// memory, usable from Go directly. The gopy facade in pyext/ wraps it for Python; the
// package itself imports nothing of Python's (pickle is its own package).
//
// # Map
//
// One package, six areas; each area's files, the names a reader starts from, and the
// section below that tells its rules:
//
//	area            files                                   start from                                  section
//	processes       process*.go, parentwatch.go             Cmd, Start, Process, WatchParent            Processes
//	connections     conn*.go, pipe.go, wait.go, errors.go   Conn, Pipe, NewConn, Wait, ConnState        Connections
//	listeners       listener.go, auth.go                    Listen, Dial, Listener, Handshake           Listeners and authentication
//	queues          queue.go                                NewQueue, Queue.Put, Queue.Get              Queues
//	sync            sync.go, sync_cond.go                   Lock, RLock, Semaphore, Event, Condition,   Synchronization
//	                                                        Barrier
//	shared memory   shared.go, sharedmemory.go              SharedMemory, SharedBlock, SharedHeap       Shared memory
//	errors, waits   errors.go, context.go, interrupt.go     ErrTimeout, EnableInterrupts                Errors and waits
//
// Beside it: taskpool (pool dispatch), goserve (Go functions as workers), pyworker
// (CPython workers for Go programs), cluster (pools over NATS JetStream); docs/design.md
// draws every package and what it owns.
//
// # Errors and waits
//
// Every error's message starts with "gompx: " once; layers add their context after it
// ("gompx: queue get: timed out"), and errors.Is and errors.As see through every layer.
// A wait that runs out of time, in any package of gompx, is ErrTimeout for errors.Is
// (and os.ErrDeadlineExceeded and context.DeadlineExceeded too).
//
// Blocking calls take a context.Context: Lock.LockContext, Semaphore.AcquireContext,
// Event.WaitContext, Condition.WaitContext, Barrier.WaitContext, Process.WaitContext,
// Listener.AcceptContext, Conn.PollContext, WaitContext, Queue.Get, Queue.Put,
// Queue.JoinContext. A cancellation wakes the wait at once (a queue's waits look at
// their context every 20 ms). Lock (and RLock.For an owner) is a sync.Locker.
// The methods that take a time.Duration (negative: forever) beside them are what the
// Python facade calls: on a main thread after EnableInterrupts a signal ends those
// with ErrInterrupted, so that Python runs its handlers.
//
// # Connections
//
// A Conn is one end of a message-oriented connection, byte-compatible with CPython's
// multiprocessing.connection.Connection. Pipe makes a connected pair (like
// multiprocessing.Pipe); NewConn wraps any socket or pipe fd; State and ConnFromState
// carry an end into a child process; Wait is multiprocessing.connection.wait over fds.
//
// Every message is a frame (see internal/frame):
//
//	length            header bytes                       payload
//	0 .. 0x7fffffff   4: big-endian int32 length          inline, after the header
//	above that        4: -1, then 8: big-endian uint64    inline
//	peer mode, large  4: -2, then 8: big-endian uint64    in the sender's shared ring
//
// Two modes:
//
//	mode   made by                        wire                       large payloads
//	plain  NewConn                        exactly CPython's          inline, one writev
//	peer   Pipe, ConnFromState of a Pipe  CPython's plus -2 frames   through a shared ring
//
// In peer mode a payload of 128 KiB or more is copied once into a 4 MiB
// single-producer single-consumer ring in a memfd mapping (internal/shmring), which the
// sender creates on its first large send and passes as SCM_RIGHTS with the first -2
// frame; the receiver copies it once out. Larger payloads stream through the ring
// while the receiver drains it. Sleeps are on futexes (internal/futex), in 100 ms
// slices that check the socket for hang-up, so a dead peer gives an error, not a hang.
//
// Sending is one gather write of header and payload (sendmsg with MSG_NOSIGNAL on
// sockets: EPIPE is an error, never a signal). Receiving reads exactly the header,
// then exactly the payload, never past the current frame, since the fd may be handed
// to another process. The fd stays in blocking mode (Python shares it); timeouts use
// poll(2), EINTR is retried with the remaining time, except where a Conn was made
// SetInterruptible: there a signal during RecvHeader's wait returns ErrInterrupted, so
// that an embedding interpreter can run its signal handlers (Ctrl-C). After
// EnableInterrupts the same holds for every wait on the process's main thread (Poll,
// Wait, Process.Wait, Queue gets and joins, Lock, Semaphore, Event, Condition.Sleep). RecvHeader, RecvPayload and
// DiscardPayload let a caller that owns the destination memory receive into it with
// no extra copy; RecvBytes is the same with a fresh slice.
//
// A Conn is safe for one sender and one receiver at a time, like CPython's Connection.
// Errors wrap the sentinels of errors.go (ErrClosed, ErrNotReadable, ErrNotWritable,
// ErrMessageTooLong, ErrTimeout, ErrBadFrame, ...); end of stream is io.EOF between
// messages and io.ErrUnexpectedEOF inside one.
//
// # Listeners and authentication
//
// Listen and Dial are multiprocessing.connection's Listener and Client: AF_UNIX (paths,
// and Linux abstract names written "\x00name" or "@name") and TCP ("host:port"). Their
// Conns are plain mode, so either end may be stock CPython 3.10-3.13. With an authkey
// the two sides run CPython's handshake (DeliverChallenge, AnswerChallenge, or a
// resumable Handshake); a Conn's Send and Recv carry pickles (package pickle).
//
//	step  challenger (Listener.Accept: deliver, then answer)   peer (Dial: answer, then deliver)
//	1     "#CHALLENGE#{sha256}" + 40 random bytes      ->
//	2                                                  <-  answer (see below)
//	3     "#WELCOME#" or "#FAILURE#"                   ->
//	4     the same three messages with the roles swapped
//
//	challenge received (after "#CHALLENGE#")   answer sent
//	exactly 20 bytes (CPython <= 3.11)         raw HMAC-MD5 of them (16 bytes)
//	"{digest}" + random (CPython 3.12+, gompx)  "{digest}" + HMAC-digest of the whole message
//
// gompx always challenges in the 3.12 form, which every CPython 3.10-3.13 answers (3.10
// and 3.11 answer it with a raw HMAC-MD5 over the whole message, prefix included), and
// accepts what CPython 3.12 accepts: a raw 16-byte HMAC-MD5, or "{digest}" + HMAC with
// digest one of md5, sha256, sha384, sha3_256, sha3_384. Digests are compared in
// constant time; no handshake message longer than 256 bytes is read; nothing is
// unpickled before the peer has authenticated.
//
// # Queues
//
// A Queue is multiprocessing.Queue's storage: a ring in shared memory (internal/mpq)
// that any process holding its fd may put to and get from, bounded by MaxSize or not,
// with a journal that lets the others go on when a producer or consumer is SIGKILLed
// mid-message. Put and Get carry pickles (protocol 5) or raw bytes; TaskDone and
// JoinContext make it a JoinableQueue.
//
// # Synchronization
//
// Lock, RLock, Semaphore, Event, Condition and Barrier are multiprocessing's
// primitives: futex words in a SharedBlock (internal/psync), so any process that opens
// the block's SharedRef shares them, and one that dies holding a Lock hands it to the
// next taker with ErrOwnerDied instead of deadlocking it.
//
// # Processes
//
// The package also starts and supervises child processes (Process, Cmd, Start): see
// process.go for the states and their rules. What happens to a child when its parent
// dies is chosen in two places, the parent's Cmd and the child's own code:
//
//	parent starts it with   child calls                  when the parent dies, even by SIGKILL
//	KillWithParent          nothing                      the kernel kills the child at once (PR_SET_PDEATHSIG)
//	KillWithParent          WatchParent[Pidfd], at once  the child sees it (ParentWatch.Dead) and is killed Grace later
//	neither                 WatchParent, any time        the same, from the call on
//	neither                 nothing                      the child lives on (an orphan, as with os/exec)
//
// Python children of gompx take the second row, with DefaultOrphanGrace (5 s) unless
// GOMPX_ORPHAN_GRACE says otherwise (see parentwatch.go).
//
// # Shared memory
//
// SharedMemory is a named segment of memory shared by processes of one user, Go or
// Python (gompx.shared_memory): a memfd whose name every holder serves over a Linux
// abstract unix socket (internal/shmname), so a segment lives while any process holds
// it or until Unlink, and nothing outlives the last holder, even after SIGKILL.
//
// SharedBlock is an unnamed block of shared memory (the storage of the locks and of
// Python's shared ctypes values), allocated from a SharedHeap: the process's
// (AllocShared) or one of its own (NewSharedHeap). Blocks are reference counted across
// processes (Retain before handing one over), and an arena whose last block is freed
// gives its memory back to the kernel at once (internal/arena). SharedHeap.Arenas lists
// every block, free or allocated.
//
// # Not here
//
// No pickle format (package pickle: Conn.Send and Recv call it), no Windows named pipes, and no
// read-ahead buffering: a Conn never reads past the frame it returns.
package gompx
