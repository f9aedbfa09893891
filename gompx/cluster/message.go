package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/nats-io/nats.go"
)

// Names shared by every caller and worker (docs/design.md, "Past one machine").
const (
	TasksStream    = "GOMPX_TASKS"
	ResultsStream  = "GOMPX_RESULTS"
	WorkerConsumer = "workers"
	ObjectBucket   = "GOMPX_OBJ"
	taskPrefix     = "gompx.task."
	resultPrefix   = "gompx.result."
	// MaxDeliveries is how often a chunk is run before it fails with a lost status:
	// each run ended without an ack (the worker's machine or connection died, or it
	// stopped sending progress acks). The consumer delivers once more: the worker that
	// gets that delivery answers StatusLost without running the chunk, a result the
	// caller cannot miss; if nobody answers it, the server's max-deliveries advisory
	// fails the chunk instead.
	MaxDeliveries = 3
	// InlineLimit is the largest body sent inside a message; larger ones go through
	// the object store (half the server's default max_payload of 1 MiB).
	InlineLimit = 512 << 10
)

// Header names of task and result messages.
const (
	hdrMsgID  = "Nats-Msg-Id"
	hdrJob    = "Gompx-Job"
	hdrChunk  = "Gompx-Chunk"
	hdrFunc   = "Gompx-Func"
	hdrStatus = "Gompx-Status"
	hdrWorker = "Gompx-Worker"
	hdrObj    = "Gompx-Obj"
	hdrMac    = "Gompx-Mac"
	hdrRetire = "Gompx-Max-Tasks"
)

// Status is the outcome a result message reports.
type Status string

// The statuses of a result.
const (
	// StatusOK: the body is the pickle the Python worker made of the chunk's outcome.
	StatusOK Status = "ok"
	// StatusLost: the process running the chunk died, or the chunk was delivered
	// MaxDeliveries times without an answer; the body is a message (WorkerLostError).
	StatusLost Status = "lost"
	// StatusAuth: the worker could not verify the task's HMAC (its authkey differs);
	// the body is a message (AuthenticationError). Never verified itself.
	StatusAuth Status = "auth"
	// StatusFail: the worker could not run the chunk for a reason of its own (the
	// object store lost the body, the worker's Python cannot load gompx); the body is
	// a message.
	StatusFail Status = "fail"
)

// ErrBadMAC reports a message whose HMAC does not match its content under the key.
var ErrBadMAC = errs.New("gompx: message failed its HMAC check (the authkeys differ, or it was forged)")

// task is one chunk of a job, as it travels.
type task struct {
	Pool  string // the caller's id
	Job   uint64
	Chunk uint32
	Func  string // "module:qualname", for messages only
	Obj   string // object name when Body is in the object store
	Body  []byte
	// MaxTasks is the caller's Options.MaxTasksPerWorker (0: none).
	MaxTasks int
}

// Chunk is what a Handler may want to know of the chunk it runs besides its body:
// ChunkFrom(ctx) returns it.
type Chunk struct {
	// Pool is the id of the caller that submitted it.
	Pool string
	// MaxTasksPerWorker is the caller's Options.MaxTasksPerWorker: a handler running
	// chunks in a pool of processes retires a process after that many chunks of Pool.
	MaxTasksPerWorker int
}

type chunkKey struct{}

// ChunkFrom returns the Chunk of the context Serve passes to a Handler (the zero
// Chunk for another context).
func ChunkFrom(ctx context.Context) Chunk {
	c, _ := ctx.Value(chunkKey{}).(Chunk)
	return c
}

// result is a chunk's outcome, as it travels.
type result struct {
	Pool   string
	Job    uint64
	Chunk  uint32
	Status Status
	Worker string
	Obj    string
	Body   []byte
}

// lostMessage is the text of a chunk that ran MaxDeliveries times without an answer.
var lostMessage = fmt.Sprintf("chunk delivered %d times without an answer (the worker machines "+
	"running it died or lost their connection)", MaxDeliveries)

func taskSubject(pool string) string    { return taskPrefix + pool }
func resultSubject(pool string) string  { return resultPrefix + pool }
func resultConsumer(pool string) string { return "r-" + pool }

// mac is HMAC-SHA256 over the kind, the fields (each followed by NUL), the body's
// length and the body; the length keeps a field from spilling into the body.
func mac(key []byte, kind string, fields []string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(kind))
	h.Write([]byte{0})
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	h.Write([]byte(strconv.Itoa(len(body))))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

func (t *task) fields() []string {
	return []string{t.Pool, strconv.FormatUint(t.Job, 10), strconv.FormatUint(uint64(t.Chunk), 10), t.Func, t.Obj,
		strconv.Itoa(t.MaxTasks)}
}

func (r *result) fields() []string {
	return []string{r.Pool, strconv.FormatUint(r.Job, 10), strconv.FormatUint(uint64(r.Chunk), 10), string(r.Status), r.Obj}
}

// msgID is the JetStream de-duplication id of a chunk.
func (t *task) msgID() string {
	return t.Pool + "." + strconv.FormatUint(t.Job, 10) + "." + strconv.FormatUint(uint64(t.Chunk), 10)
}

// toMsg makes the message of t; body is the data the MAC covers (t.Body, or the object's
// bytes when t.Obj is set and t.Body is empty).
func (t *task) toMsg(key, body []byte) *nats.Msg {
	m := nats.NewMsg(taskSubject(t.Pool))
	m.Header.Set(hdrMsgID, t.msgID())
	m.Header.Set(hdrJob, strconv.FormatUint(t.Job, 10))
	m.Header.Set(hdrChunk, strconv.FormatUint(uint64(t.Chunk), 10))
	m.Header.Set(hdrFunc, t.Func)
	if t.MaxTasks > 0 {
		m.Header.Set(hdrRetire, strconv.Itoa(t.MaxTasks))
	}
	if t.Obj != "" {
		m.Header.Set(hdrObj, t.Obj)
	}
	m.Header.Set(hdrMac, hex.EncodeToString(mac(key, "gompx-task", t.fields(), body)))
	m.Data = t.Body
	return m
}

func (r *result) toMsg(key, body []byte) *nats.Msg {
	m := nats.NewMsg(resultSubject(r.Pool))
	m.Header.Set(hdrJob, strconv.FormatUint(r.Job, 10))
	m.Header.Set(hdrChunk, strconv.FormatUint(uint64(r.Chunk), 10))
	m.Header.Set(hdrStatus, string(r.Status))
	m.Header.Set(hdrWorker, r.Worker)
	if r.Obj != "" {
		m.Header.Set(hdrObj, r.Obj)
	}
	m.Header.Set(hdrMac, hex.EncodeToString(mac(key, "gompx-result", r.fields(), body)))
	m.Data = r.Body
	return m
}

// parseTask reads a task's headers; the MAC is checked later, over the body.
func parseTask(subject string, h nats.Header, data []byte) (*task, []byte, error) {
	if len(subject) <= len(taskPrefix) || subject[:len(taskPrefix)] != taskPrefix {
		return nil, nil, errs.Errorf("gompx: task on unexpected subject %q", subject)
	}
	t := &task{Pool: subject[len(taskPrefix):], Func: h.Get(hdrFunc), Obj: h.Get(hdrObj), Body: data}
	var err error
	if t.Job, t.Chunk, err = jobChunk(h); err != nil {
		return t, nil, err
	}
	if v := h.Get(hdrRetire); v != "" {
		if t.MaxTasks, err = strconv.Atoi(v); err != nil || t.MaxTasks < 0 {
			return t, nil, errs.Errorf("gompx: task %s has no valid %s header", t.msgID(), hdrRetire)
		}
	}
	sum, err := hex.DecodeString(h.Get(hdrMac))
	if err != nil || len(sum) != sha256.Size {
		return t, nil, errs.Errorf("gompx: task %s has no valid %s header", t.msgID(), hdrMac)
	}
	return t, sum, nil
}

func parseResult(subject string, h nats.Header, data []byte) (*result, []byte, error) {
	if len(subject) <= len(resultPrefix) || subject[:len(resultPrefix)] != resultPrefix {
		return nil, nil, errs.Errorf("gompx: result on unexpected subject %q", subject)
	}
	r := &result{Pool: subject[len(resultPrefix):], Status: Status(h.Get(hdrStatus)),
		Worker: h.Get(hdrWorker), Obj: h.Get(hdrObj), Body: data}
	var err error
	if r.Job, r.Chunk, err = jobChunk(h); err != nil {
		return r, nil, err
	}
	switch r.Status {
	case StatusOK, StatusLost, StatusAuth, StatusFail:
	default:
		return r, nil, errs.Errorf("gompx: result with unknown status %q", r.Status)
	}
	sum, err := hex.DecodeString(h.Get(hdrMac))
	if err != nil || len(sum) != sha256.Size {
		return r, nil, errs.Errorf("gompx: result has no valid %s header", hdrMac)
	}
	return r, sum, nil
}

func jobChunk(h nats.Header) (uint64, uint32, error) {
	job, err1 := strconv.ParseUint(h.Get(hdrJob), 10, 64)
	chunk, err2 := strconv.ParseUint(h.Get(hdrChunk), 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, errs.Errorf("gompx: message without a valid %s/%s header", hdrJob, hdrChunk)
	}
	return job, uint32(chunk), nil
}
