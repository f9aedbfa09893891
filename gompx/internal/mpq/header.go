package mpq

// header sits at offset 0 of the shared file. Fields are laid out explicitly (no implicit
// padding; every uint64 8-aligned), and producer-written and consumer-written words sit on
// separate cache lines. All fields but the first group change only through sync/atomic.
type header struct {
	Magic     uint64   // creator writes once before sharing the fd; Open checks it
	Capacity  uint64   // creator writes once: data bytes, a multiple of 4096
	MaxSize   uint64   // creator writes once: most messages queued at once, 0 = no limit
	SoftLimit uint64   // creator writes once: producers wrap early past it (see doc.go)
	_         [32]byte // keeps the read-only line apart from the hot ones

	ProducerLock uint32   // owner pid | lockWaiters; producers take it to write a message
	_            [60]byte // own line: contended by producers only

	ConsumerLock uint32   // owner pid | lockWaiters; consumers take it to read
	_            [60]byte // own line: contended by consumers only

	Tail        uint64   // producer lock holder writes: bytes published; consumers read
	Admitted    uint64   // any producer adds its messages when put (CAS under MaxSize); all read
	DataSeq     uint32   // futex word: producers bump it after publishing; consumers sleep on it
	DataWaiters uint32   // consumers add 1 around a sleep on DataSeq; producers wake if non-zero
	PJournal    pjournal // producer lock holder writes around a publish; a successor or reclaim settles it
	_           [16]byte // rest of the line

	Head         uint64   // consumer lock holder writes: bytes consumed; producers read
	Consumed     uint64   // consumer lock holder writes: complete messages consumed; all read
	SpaceSeq     uint32   // futex word: consumers bump it after consuming; producers sleep on it
	SpaceWaiters uint32   // producers add 1 around a sleep on SpaceSeq; consumers wake if non-zero
	CJournal     journal  // consumer lock holder writes; a successor replays it
	_            [16]byte // rest of the line

	TasksDone   uint64   // any process adds 1 per task_done (CAS, never above Admitted)
	DoneSeq     uint32   // futex word: bumped by task_done; Join sleeps on it
	DoneWaiters uint32   // Join adds 1 around a sleep on DoneSeq
	_           [48]byte // rest of the line

	// Every change of Admitted, and of a slot's Claimed with it, is made by the holder of
	// this lock through its journal, so that a process dying between the two leaves
	// neither one short (see admit.go).
	AJournal ajournal

	// Producers' admitted messages not yet published, per process, so that those of a
	// process that died are counted out of Admitted (see reclaim in admit.go).
	Slots [slotCount]slot
}

// slot is one producer process's share of Admitted: Claimed - Released messages
// admitted and not yet published. Two counters rather than one, so that Claimed changes
// only under the admission lock (journaled with Admitted, stored, never added to) while
// the process's publishes add to Released without that lock.
type slot struct {
	Pid      uint32 // the process claims a free slot (CAS 0 -> pid); a reclaimer frees it
	Backlog  uint32 // the process writes (SetBacklog), and reads before a put that skips Go
	Claimed  uint64 // messages admitted by the process, ever: set under the admission lock
	Released uint64 // of those, published or settled: the process (or a settler) adds
}

// ajournal is the admission lock and its journal: the holder writes the values it is
// about to store, sets ajValid in Lock, stores them, and unlocks (Lock = 0). A taker of
// the lock from a dead holder that finds ajValid stores the values again (stores of
// final values: applying twice is harmless), so Admitted and the slot's Claimed change
// together or not at all.
type ajournal struct {
	Lock     uint32   // holder pid | ajValid; nobody sleeps on it (held for a few stores)
	Slot     uint32   // index+1 of the slot whose Claimed the holder stores; 0: none
	Admitted uint64   // the Admitted the holder stores
	Claimed  uint64   // the slot's Claimed the holder stores
	_        [40]byte // rest of the line
}

// ajValid marks the admission journal complete (pids stay below 1<<22).
const ajValid = 1 << 30

// journal is the consumer side's pending commit: the positions and counters it is about to store.
// Valid is set last when writing and cleared last when done, so a successor that finds it
// set knows the values are complete and applies them again (applying twice is harmless:
// they are plain stores of final values).
type journal struct {
	Valid    uint64
	Position uint64 // new Tail or Head
	Messages uint64 // new Consumed
}

// pjournal is a publish in progress: the producer lock holder stores the new Tail, then
// takes the messages it publishes out of its slot. A producer that dies between the two
// leaves published messages counted in its slot, which reclaim would count out of
// Admitted a second time (once by a consumer taking them): the journal tells whoever
// settles the dead producer's share whether Tail was stored (settlePublish in admit.go).
type pjournal struct {
	State uint64 // generation<<32 | pid of the publisher (pid 0: none pending) | settling
	Tail  uint64 // the Tail the publish stores
	Count uint64 // messages it takes out of the publisher's slot
}

// settling marks a pjournal being settled (pids stay below 1<<22).
const settling = 1 << 31

const (
	magic      = 0x31305158504d4f47 // "GOMPXQ01"
	dataOffset = 4096               // the data starts on its own page
	pageSize   = 4096

	recordHeader = 24 // bytes before a chunk's payload
	flagFirst    = 1 << 0
	flagLast     = 1 << 1
	flagSkip     = 1 << 2

	lockWaiters = 1 << 31 // set in a lock word by a waiter about to sleep

	slotCount = 128 // producer processes tracked at once; more are counted untracked
)
