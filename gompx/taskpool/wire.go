package taskpool

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/gompx/gompx/gompx/internal/errs"
)

// HeaderLen is the length of a task's and of a result's fixed header.
const HeaderLen = 32

// SlotSize is the size of one worker's slot on the board.
const SlotSize = 64

// Status says what a result's payload is.
type Status uint32

const (
	// StatusOK: the payload is the task's value.
	StatusOK Status = 0
	// StatusError: the payload is the exception the task raised.
	StatusError Status = 1
	// StatusLost: the worker died while running the task; the payload is a message
	// (UTF-8) naming its exit code.
	StatusLost Status = 2
	// StatusTerminated: the pool was terminated first; the payload is a message.
	StatusTerminated Status = 3
	// StatusBroken: the pool broke (see Options.BreakOnDeath); the payload is a message.
	StatusBroken Status = 4
)

// Control records travel in the result queue with job id 0, so that they reach the
// collector in order with the results.
const (
	ctlExited Status = 100 + iota // a worker exited: worker id, exit code in the index field
	ctlQuit                       // the collector returns
	ctlPoke                       // nothing: wakes whoever reads the queue
)

// Task is a task message as a worker sees it.
type Task struct {
	Job    uint64 // 0 for the stop message
	Index  uint64
	Seq    uint64
	Worker uint32
	Header []byte // the job's header
	Body   []byte // the task's payload
}

// ErrShortMessage reports a message shorter than its header says.
var ErrShortMessage = errs.New("taskpool: message shorter than its header")

// ParseTask reads a task message; Header and Body alias msg.
func ParseTask(msg []byte) (Task, error) {
	if len(msg) < HeaderLen {
		return Task{}, ErrShortMessage
	}
	t := Task{
		Job:    binary.LittleEndian.Uint64(msg[0:]),
		Index:  binary.LittleEndian.Uint64(msg[8:]),
		Seq:    binary.LittleEndian.Uint64(msg[16:]),
		Worker: binary.LittleEndian.Uint32(msg[24:]),
	}
	h := int(binary.LittleEndian.Uint32(msg[28:]))
	if h > len(msg)-HeaderLen {
		return Task{}, ErrShortMessage
	}
	t.Header = msg[HeaderLen : HeaderLen+h]
	t.Body = msg[HeaderLen+h:]
	return t, nil
}

// AppendTask appends the message of task t to dst.
func AppendTask(dst []byte, t Task) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, t.Job)
	dst = binary.LittleEndian.AppendUint64(dst, t.Index)
	dst = binary.LittleEndian.AppendUint64(dst, t.Seq)
	dst = binary.LittleEndian.AppendUint32(dst, t.Worker)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(t.Header)))
	dst = append(dst, t.Header...)
	return append(dst, t.Body...)
}

// AppendResult appends the message answering task t with status and payload to dst.
func AppendResult(dst []byte, t Task, status Status, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, t.Job)
	dst = binary.LittleEndian.AppendUint64(dst, t.Index)
	dst = binary.LittleEndian.AppendUint64(dst, t.Seq)
	dst = binary.LittleEndian.AppendUint32(dst, t.Worker)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(status))
	return append(dst, payload...)
}

// result is a result message as the collector sees it.
type result struct {
	job, index, seq uint64
	worker          uint32
	status          Status
	payload         []byte
}

func parseResult(msg []byte) (result, bool) {
	if len(msg) < HeaderLen {
		return result{}, false
	}
	return result{
		job:     binary.LittleEndian.Uint64(msg[0:]),
		index:   binary.LittleEndian.Uint64(msg[8:]),
		seq:     binary.LittleEndian.Uint64(msg[16:]),
		worker:  binary.LittleEndian.Uint32(msg[24:]),
		status:  Status(binary.LittleEndian.Uint32(msg[28:])),
		payload: msg[HeaderLen:],
	}, true
}

// MarkStarted records on the board that the worker in slot is starting task seq.
func MarkStarted(board []byte, slot int, seq uint64) {
	atomic.StoreUint64(slotWord(board, slot), seq)
}

func startedSeq(board []byte, slot int) uint64 {
	return atomic.LoadUint64(slotWord(board, slot))
}

func slotWord(board []byte, slot int) *uint64 {
	_ = board[slot*SlotSize+7] // bounds check
	return (*uint64)(unsafe.Pointer(&board[slot*SlotSize]))
}
