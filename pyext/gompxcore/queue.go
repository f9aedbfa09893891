package gompxcore

import (
	"encoding/binary"
	"errors"
	"sync"
	"syscall"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
	"github.com/gompx/gompx/pickle"
)

// Results of the queue calls that wait: nothing happened in time (queue.Empty or
// queue.Full, or a signal ended the main thread's wait early: call again for the rest).
const (
	QueueTimedOut = -1
	// QueueTorn: the message being read was abandoned by a producer that died; get again.
	QueueTorn = -2
	// QueueHeldBase: results at or below it mean the message did not fit: it is held for
	// QueueGetInto (or QueueGetAbort), and QueueHeldBase - result is length<<8 | kind.
	QueueHeldBase = -3
)

// QueueNew creates a queue in shared memory: at most maxsize messages (0: unbounded)
// in a ring of capacity bytes (0: the default), and returns its handle.
func QueueNew(maxsize int64, capacity int64) (h int64, err error) {
	defer recoverInto(&err)
	if maxsize < 0 {
		maxsize = 0 // multiprocessing treats maxsize <= 0 as unbounded
	}
	q, err := gompx.NewQueue(gompx.QueueOptions{MaxSize: int(maxsize), Capacity: capacity})
	var errno syscall.Errno
	if errors.As(err, &errno) {
		// Out of descriptors, memory or file size: OSError with what ran out.
		return 0, translate(err)
	}
	if err != nil {
		return 0, newPyError(ErrKindValueError, "%v", err)
	}
	return handles.put(q), nil
}

// QueueImport attaches to the queue behind fd (inherited from the parent) and returns a
// handle. The queue owns fd from now on.
func QueueImport(fd int) (h int64, err error) {
	defer recoverInto(&err)
	return put(gompx.OpenQueue(fd))
}

// QueueFileno returns the queue's file descriptor, to pass to a child.
func QueueFileno(h int64) (fd int, err error) {
	return read(h, (*gompx.Queue).Fd)
}

// QueueClose stops this process's use of the queue (Queue.close): the handle stays
// valid for QueueFlush, and the memory is released once the pending messages are in.
// Closing twice is harmless.
func QueueClose(h int64) (ok bool, err error) {
	return withOr(h, true, func(q *gompx.Queue) (ok bool, err error) { return true, q.Close() })
}

// atExit is what becomes of this process's pending queue messages at exit.
var atExit pyapi.ExitFlush

// QueueDrop closes the queue and forgets the handle (the Python object is gone). Its
// pending messages, if any, are still flushed, and waited for by QueueFlushAll.
func QueueDrop(h int64) (ok bool, err error) {
	return withOr(h, true, func(q *gompx.Queue) (bool, error) {
		handles.drop(h)
		q.Close()
		atExit.Dropped(q)
		return true, nil
	})
}

// QueueCancelJoin makes QueueFlushAll skip this queue (cancel_join_thread): at exit its
// pending messages are dropped instead of waited for.
func QueueCancelJoin(h int64) (ok bool, err error) {
	return with(h, func(q *gompx.Queue) (bool, error) { atExit.Cancel(q); return true, nil })
}

// QueueFlushAll waits, at interpreter exit, until the pending messages of every queue of
// this process are in their queues, as pyapi.ExitFlush rules. Returns the number of
// queues still pending when timeoutMs (negative: forever) ran out.
func QueueFlushAll(timeoutMs int) (left int, err error) {
	defer recoverInto(&err)
	var live []*gompx.Queue
	handles.mu.RLock()
	for _, obj := range handles.objs {
		if q, ok := obj.(*gompx.Queue); ok {
			live = append(live, q)
		}
	}
	handles.mu.RUnlock()
	return atExit.FlushAll(live, millis(timeoutMs)), nil
}

// QueuePut puts the n bytes at addr as one message of the given kind, waiting up to
// timeoutMs (negative: forever) for room in a bounded queue. Returns 0, or QueueTimedOut.
func QueuePut(h int64, addr uintptr, n int, kind int, timeoutMs int) (r int, err error) {
	passThroughScheduler()
	return with(h, func(q *gompx.Queue) (r int, err error) {
		return putResult(q.Send(gompx.MessageKind(kind), millis(timeoutMs), pyMemory(addr, n)))
	})
}

// QueuePutSegments puts one message whose payload is nsegs pieces of memory, described
// at segs as nsegs pairs of uint64 (address, length).
func QueuePutSegments(h int64, segs uintptr, nsegs int, kind int, timeoutMs int) (r int, err error) {
	return with(h, func(q *gompx.Queue) (r int, err error) {
		return putResult(q.Send(gompx.MessageKind(kind), millis(timeoutMs), segments(segs, nsegs)...))
	})
}

// QueuePutBatch puts count messages of the given kind: their payloads lie back to back
// at data, their lengths are count uint64 at lengths. Returns how many went in (all of
// them unless a bounded queue stayed full past timeoutMs).
func QueuePutBatch(h int64, data uintptr, lengths uintptr, count int, kind int, timeoutMs int) (done int, err error) {
	passThroughScheduler()
	return with(h, func(q *gompx.Queue) (done int, err error) {
		done, err = q.SendBatch(gompx.MessageKind(kind), millis(timeoutMs), backToBack(data, lengths, count))
		if errors.Is(err, gompx.ErrQueueFull) || interrupted(err) {
			return done, nil
		}
		return done, translateQueue(err)
	})
}

// splitters keep the memory of batch calls for the next ones: a batch of small messages
// would otherwise allocate a few bytes per message per call, and the collector's work on
// that cost more than the batch itself.
var splitters = sync.Pool{New: func() any { return new(pickle.ListSplitter) }}

// QueueUnsplittable is what QueuePutList returns for a pickle that pickle.SplitList
// cannot cut into items: nothing was put; pickle the items one by one.
const QueueUnsplittable = -4

// QueuePutList puts each item of the pickled list at addr (n bytes) as one message, the
// list cut into one pickle per item by pickle.SplitList, so that Python pickles a batch
// with one dumps() call. Returns how many went in (all of them unless a bounded queue
// stayed full past timeoutMs), or QueueUnsplittable.
func QueuePutList(h int64, addr uintptr, n int, timeoutMs int) (done int, err error) {
	passThroughScheduler()
	return with(h, func(q *gompx.Queue) (done int, err error) {
		splitter := splitters.Get().(*pickle.ListSplitter)
		defer splitters.Put(splitter)
		items, ok := splitter.Split(pyMemory(addr, n))
		if !ok {
			return QueueUnsplittable, nil
		}
		done, err = q.SendBatch(gompx.KindPickle, millis(timeoutMs), items)
		if errors.Is(err, gompx.ErrQueueFull) || interrupted(err) {
			return done, nil
		}
		return done, translateQueue(err)
	})
}

func putResult(err error) (int, error) {
	if errors.Is(err, gompx.ErrQueueFull) || interrupted(err) {
		return QueueTimedOut, nil
	}
	return 0, translateQueue(err)
}

func segments(addr uintptr, n int) [][]byte {
	table := pyMemory(addr, 16*n)
	out := make([][]byte, n)
	for i := range out {
		out[i] = pyMemory(uintptr(binary.LittleEndian.Uint64(table[16*i:])), int(binary.LittleEndian.Uint64(table[16*i+8:])))
	}
	return out
}

// QueueGet waits up to timeoutMs (negative: forever) for a message. A message of at
// most capacity bytes lands at addr and the result is length<<8 | kind. A longer one is
// held for this caller (its first bytes are at addr) and the result is
// QueueHeldBase - (length<<8 | kind): read it with QueueGetInto or drop the hold with
// QueueGetAbort. QueueTimedOut: nothing came in time; QueueTorn: get again.
func QueueGet(h int64, addr uintptr, capacity int, timeoutMs int) (r int64, err error) {
	passThroughScheduler()
	return with(h, func(q *gompx.Queue) (int64, error) {
		var code [8]byte
		b, err := pyapi.ReceiveMany(q, millis(timeoutMs), pyMemory(addr, capacity), code[:])
		return received(b, err, int64(binary.LittleEndian.Uint64(code[:])))
	})
}

// received is the result of QueueGet and QueueGetMany for what pyapi.ReceiveMany got;
// ok is the result when it got messages.
func received(b pyapi.Batch, err error, ok int64) (int64, error) {
	switch {
	case errors.Is(err, gompx.ErrQueueEmpty), interrupted(err):
		return QueueTimedOut, nil
	case err != nil:
		return 0, translateQueue(err)
	case b.Held:
		return QueueHeldBase - (int64(b.Len)<<8 | int64(b.Kind)), nil
	case b.Torn:
		return QueueTorn, nil
	}
	return ok, nil
}

// QueueGetInto reads the held message into nsegs pieces of memory described at segs as
// (address, length) uint64 pairs whose lengths add up to its length, and releases the
// hold. Returns 0, or QueueTorn (the message is gone: get again).
func QueueGetInto(h int64, segs uintptr, nsegs int) (r int, err error) {
	return with(h, func(q *gompx.Queue) (r int, err error) {
		defer pyapi.Reader(q).EndRead()
		err = pyapi.Reader(q).ReadMessage(segments(segs, nsegs)...)
		if errors.Is(err, gompx.ErrMessageTorn) {
			return QueueTorn, nil
		}
		return 0, translateQueue(err)
	})
}

// QueueGetAbort releases a hold without consuming the message.
func QueueGetAbort(h int64) (ok bool, err error) {
	return with(h, func(q *gompx.Queue) (ok bool, err error) { pyapi.Reader(q).EndRead(); return true, nil })
}

// QueueSpliced flags a QueueGetMany result whose messages were pickles joined into the
// pickle of one list: its length is the first uint64 at lengths, its bytes at addr.
const QueueSpliced = 1 << 40

// QueueGetMany waits up to timeoutMs for a message, then takes up to max messages that
// are already there, as long as they fit in capacity bytes at addr, back to back; the
// length<<8 | kind of each goes to the uint64 array at lengths. Returns the count, or
// QueueTimedOut, QueueTorn, or a held first message as QueueGet does. When the messages
// are all pickles that pickle.ConcatList can join, the result is count | QueueSpliced
// and addr holds the pickle of the list of them, so Python loads the batch in one call.
func QueueGetMany(h int64, addr uintptr, capacity int, lengths uintptr, max int, timeoutMs int) (r int64, err error) {
	passThroughScheduler()
	return with(h, func(q *gompx.Queue) (int64, error) {
		b, err := pyapi.ReceiveMany(q, millis(timeoutMs), pyMemory(addr, capacity), pyMemory(lengths, 8*max))
		if b.Joined {
			return received(b, err, int64(b.Count)|QueueSpliced)
		}
		return received(b, err, int64(b.Count))
	})
}

// QueueLen returns the number of messages in the queue.
func QueueLen(h int64) (n int64, err error) {
	return with(h, func(q *gompx.Queue) (n int64, err error) { return int64(q.Len()), nil })
}

// QueueUsed reports whether this process has put into the queue through this handle
// (CPython's Queue.close closes its pipe only then).
func QueueUsed(h int64) (used bool, err error) {
	return read(h, (*gompx.Queue).Used)
}

// QueueTaskDone marks one message as processed (JoinableQueue.task_done).
func QueueTaskDone(h int64) (ok bool, err error) {
	return with(h, func(q *gompx.Queue) (ok bool, err error) {
		if err := q.TaskDone(); errors.Is(err, gompx.ErrTaskDone) {
			return false, newPyError(ErrKindValueError, "task_done() called too many times")
		} else if err != nil {
			return false, translateQueue(err)
		}
		return true, nil
	})
}

// QueueJoin waits up to timeoutMs (negative: forever) until every message put has been
// marked done; false if the time ran out first.
func QueueJoin(h int64, timeoutMs int) (done bool, err error) {
	return with(h, func(q *gompx.Queue) (done bool, err error) {
		done, err = q.Join(millis(timeoutMs))
		if interrupted(err) {
			return false, nil
		}
		return done, translateQueue(err)
	})
}

// QueueFlush waits up to timeoutMs (negative: forever) until this process's messages
// waiting for room are in the queue (join_thread); false if the time ran out first.
func QueueFlush(h int64, timeoutMs int) (done bool, err error) {
	return withOr(h, true, func(q *gompx.Queue) (done bool, err error) { return q.Flush(millis(timeoutMs)), nil })
}

func translateQueue(err error) error {
	if errors.Is(err, gompx.ErrQueueClosed) {
		return newPyError(ErrKindValueError, "queue is closed")
	}
	return translate(err)
}
