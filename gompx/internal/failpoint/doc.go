// Package failpoint names the places in gompx's core where a process can die, stall or
// fail while it holds shared state, and, in a build with the gompx_failpoints tag, makes
// it do so there on request. Tests use it to kill a real process exactly inside a
// critical section and then check what the survivors see.
//
// Without the tag, Inject is an empty function the compiler inlines away: a failpoint
// costs nothing in a normal build.
//
// With the tag, the environment variable GOMPX_FAILPOINTS, read once when the process
// starts, arms points by name:
//
//	GOMPX_FAILPOINTS="mpq/produce-commit=kill,arena/take=stall"
//	GOMPX_FAILPOINTS="mpq/consume-journal=kill@3"   (the third time the point is reached)
//
// Actions:
//
//	kill   the process sends itself SIGKILL: it dies there, holding what it holds
//	stall  the calling goroutine sleeps for good (the process holds what it holds, alive)
//	error  Inject returns an error wrapping ErrInjected: only at points that can fail
//	       (Point.CanFail; the others are reached through Hit, which cannot)
//
// A point named in GOMPX_FAILPOINTS that no code declares (Points) is refused at start:
// the process writes why to stderr and exits with status 2, so that a typo cannot make a
// test pass by never firing.
//
// Points is the table of every failpoint in the core; docs/design.md tables them with
// the invariant a kill there must keep.
package failpoint

import "errors"

// ErrInjected is what an "error" action makes Inject return, wrapped with the point's name.
var ErrInjected = errors.New("gompx: failpoint: injected failure")

// Env is the environment variable that arms failpoints in a gompx_failpoints build.
const Env = "GOMPX_FAILPOINTS"

// Point is one failpoint: where it sits, and whether its code path can return an error
// there (it calls Inject) or not (it calls Hit).
type Point struct {
	Where   string
	CanFail bool
}

// Points names every failpoint.
var Points = map[string]Point{
	// shm: memory files (queues, rings, arenas, pool boards).
	"shm/create": {CanFail: true, Where: "a memory file is about to be made (error: as if memfd_create failed)"},
	// mpq: the queue ring.
	"mpq/admit-locked":    {Where: "a producer holds the admission lock, nothing journaled"},
	"mpq/admit-claimed":   {Where: "a producer journaled an admission and counted it in its slot's Claimed, before it stores Admitted"},
	"mpq/admitted":        {Where: "a producer admitted a message (Admitted and its slot count it), before it writes it"},
	"mpq/produce-write":   {Where: "a producer wrote a record past Tail, before it publishes it"},
	"mpq/produce-chunk":   {Where: "a producer published a non-final chunk of a long message"},
	"mpq/produce-publish": {Where: "a producer stored the new Tail, before it counts the messages released from its slot"},
	"mpq/producer-locked": {Where: "a producer holds the producer lock"},
	"mpq/consume-read":    {Where: "a consumer read a message, before it journals the new Head"},
	"mpq/consume-journal": {Where: "a consumer journaled the new Head, before it applies it"},
	"mpq/consume-applied": {Where: "a consumer applied the new Head, before it releases the consumer lock"},
	// psync: lock words.
	"psync/mutex-claimed": {Where: "a process won the mutex word, before it writes its identity beside it"},
	"psync/mutex-held":    {Where: "a process holds the mutex, its identity written"},
	"psync/sem-waiting":   {Where: "a process registered as a semaphore waiter, before its last look"},
	// arena: the shared heap.
	"arena/take":        {Where: "an allocator, under the arena lock, popped or cut a block, before it counts it live and gives it a reference"},
	"arena/carve":       {Where: "an allocator, under the arena lock, carved the gap below a new block, before it moves top"},
	"arena/allocated":   {Where: "Alloc took a block (one reference, live), before it clears its data"},
	"arena/release":     {Where: "Release dropped the last reference under the arena lock, before it frees the block"},
	"arena/free-locked": {Where: "Release counted the block out of live, under the arena lock, before it pushes it"},
	"arena/reset":       {Where: "a reset punched the arena out, under the arena lock, before it moves top back"},
	// taskpool: dispatch.
	"taskpool/taken":   {Where: "a worker took a task off the task queue, before it marks the task as its own"},
	"taskpool/claimed": {Where: "a worker marked a task as its own, before it runs it"},
	"taskpool/acked":   {Where: "a worker put a task's result, before it clears its claim"},
	// shmname: named shared memory.
	"shmname/created": {Where: "a creator made the memory file and wrote its header, before it binds the name"},
	"shmname/bound":   {Where: "a stand-by won the race to bind the name of a segment whose binder hung up, before it serves"},
	// The C fast paths (pyext/csrc), compiled in when the extension is built with the tag
	// (GOMPX_GOTAGS=gompx_failpoints defines GOMPX_FAILPOINTS for the C compiler too);
	// the Python package hands these to C when it loads (Actions).
	"cqueue/admit-claimed": {Where: "a C put journaled its admission and stored its slot's Claimed, before it stores Admitted"},
	"cqueue/put-written":   {Where: "a C put admitted and wrote its record, holding the producer lock, before it publishes it"},
	"cqueue/put-published": {Where: "a C put stored the new Tail, before it counts the message released from its slot"},
	"cqueue/get-read":      {Where: "a C get copied a message out, holding the consumer lock, before it journals the new Head"},
	"cqueue/get-journaled": {Where: "a C get journaled the new Head, before it applies it"},
	"csync/lock-claimed":   {Where: "a C acquire won the mutex word, before it writes its identity beside it"},
	"csync/lock-held":      {Where: "a C acquire holds the mutex, its identity written"},
	// shmring: the Pipe's large-payload ring.
	"shmring/written":  {Where: "a writer copied bytes into the ring, before it publishes them (Head)"},
	"shmring/consumed": {Where: "a reader copied bytes out of the ring, before it frees them (Tail)"},
}
