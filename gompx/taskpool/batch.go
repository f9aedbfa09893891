package taskpool

import (
	"encoding/binary"
	"time"

	"github.com/gompx/gompx/pickle"
)

// TakeMode says which results TakeInto takes.
type TakeMode int

const (
	// TakeOrdered takes results in task order (imap).
	TakeOrdered TakeMode = 0
	// TakeUnordered takes results in the order they came in (imap_unordered).
	TakeUnordered TakeMode = 1
	// TakeOutcome waits for the job to finish, then takes its first failure to come in
	// if it has one, else every result in task order (apply, map: the first failure is
	// the outcome, the other results are not wanted).
	TakeOutcome TakeMode = 2
	// TakeOrderedOK takes results in task order up to the first failed or missing one,
	// leaving a failure where TakeOutcome finds it: a map's parent unpickles its chunks
	// while the workers still compute the next, and the outcome stays the first failure
	// to come in. A failure next in order makes it return no result at once (not wait).
	TakeOrderedOK TakeMode = 3
)

// EntrySize is the size of one entry of TakeInto's table: two little-endian uint64,
// index<<8 | status and the result's length.
const EntrySize = 16

// Results are joined into one pickle (one loads() in Python) only when there are many
// small ones: joining walks every opcode, which costs more than the loads() it saves for
// a few large results (map chunks).
const (
	joinMin        = 8
	joinMaxAverage = 4096
)

// Batch is what TakeInto copied.
type Batch struct {
	// Count is how many results were copied, back to back from the start of the buffer.
	Count int
	// Need, when Count is 0, is the size the buffer must have for the next result.
	Need int
	// Joined: the results were all successful pickles, now joined into the pickle of
	// the list of them at the start of the buffer; the second uint64 of the table holds
	// its length (the first entry's first uint64 still names the first result).
	Joined bool
}

// TakeInto waits up to timeout (negative: forever) for results not taken yet and copies
// as many as fit into buf and table (one EntrySize entry per result) in the order mode
// says. It returns ErrTimeout if none came in time (or, in TakeOutcome, the job did not
// finish), ErrExhausted once every result was taken.
func (j *Job) TakeInto(mode TakeMode, timeout time.Duration, buf, table []byte) (Batch, error) {
	var b Batch
	used, allOK, max := 0, true, len(table)/EntrySize
	visit := func(index int, status Status, payload []byte) bool {
		if b.Count == max || used+len(payload) > len(buf) {
			if b.Count == 0 {
				b.Need = len(payload)
			}
			return false
		}
		copy(buf[used:], payload)
		entry := table[EntrySize*b.Count:]
		binary.LittleEndian.PutUint64(entry, uint64(index)<<8|uint64(status))
		binary.LittleEndian.PutUint64(entry[8:], uint64(len(payload)))
		used += len(payload)
		b.Count++
		allOK = allOK && status == StatusOK
		return true
	}
	ordered := mode != TakeUnordered
	if mode == TakeOrderedOK {
		all := visit
		visit = func(index int, status Status, payload []byte) bool {
			return status == StatusOK && all(index, status, payload)
		}
	}
	if mode == TakeOutcome {
		if !j.Wait(timeout) {
			return b, ErrTimeout
		}
		if fail := j.FirstFailure(); fail >= 0 {
			status, payload, err := j.Result(fail)
			if err == nil {
				visit(fail, status, payload)
			}
			return b, err
		}
		timeout = 0
	}
	if _, err := j.Take(ordered, timeout, visit); err != nil {
		return b, err
	}
	if b.Count > joinMin && allOK && used/b.Count <= joinMaxAverage {
		size := func(i int) int { return int(binary.LittleEndian.Uint64(table[EntrySize*i+8:])) }
		if n, ok := pickle.ConcatInPlace(buf, b.Count, size); ok {
			binary.LittleEndian.PutUint64(table[8:], uint64(n))
			b.Joined = true
		}
	}
	return b, nil
}
