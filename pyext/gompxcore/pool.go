package gompxcore

import (
	"errors"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
	"github.com/gompx/gompx/gompx/taskpool"
	"github.com/gompx/gompx/pickle"
)

// Results of JobTake besides a count: nothing came in time (or a signal ended the main
// thread's wait early: call again); every result was taken.
// Results at or below JobNeedRoom mean the next result does not fit the buffer: it
// needs JobNeedRoom - result bytes.
const (
	JobTimedOut  = -1
	JobExhausted = -2
	JobNeedRoom  = -3
)

// Modes of JobTake: taskpool's TakeMode values.
const (
	TakeOrdered   = int(taskpool.TakeOrdered)
	TakeUnordered = int(taskpool.TakeUnordered)
	TakeOutcome   = int(taskpool.TakeOutcome)
	TakeOrderedOK = int(taskpool.TakeOrderedOK)
)

// JobSpliced flags a JobTake count whose results were all successful pickles, joined
// into the pickle of one list at addr: its length is the second uint64 at lens (the
// first still names the first result's index).
const JobSpliced = 1 << 40

// jobIDs maps a job's id (what PoolNextFinished reports) to its handle.
var jobIDs sync.Map

// PoolNew makes the engine of a process pool of slots workers whose results come
// through the queue with handle results. maxTasks > 0 recycles a worker after that many
// tasks; breakOnDeath makes a worker's death break the pool (concurrent.futures).
func PoolNew(results int64, slots int, maxTasks int, breakOnDeath bool) (h int64, err error) {
	return newPool(results, taskpool.Options{Slots: slots, MaxTasksPerWorker: maxTasks, BreakOnDeath: breakOnDeath})
}

// PoolNewOnDemand makes the engine of a process pool whose workers start as tasks need
// them, up to slots (concurrent.futures' executor): after submitting, call PoolReserve
// and start a worker in each slot it returns. A worker that exits is replaced (event
// kind 1) only while tasks wait for one. maxTasks and breakOnDeath as for PoolNew.
func PoolNewOnDemand(results int64, slots int, maxTasks int, breakOnDeath bool) (h int64, err error) {
	return newPool(results, taskpool.Options{Slots: slots, MaxTasksPerWorker: maxTasks,
		BreakOnDeath: breakOnDeath, OnDemand: true})
}

func newPool(results int64, opts taskpool.Options) (int64, error) {
	return with(results, func(q *gompx.Queue) (int64, error) {
		opts.Results = q
		p, err := taskpool.New(opts)
		return put(p, valueError(err))
	})
}

// valueError is err, if any, as a ValueError.
func valueError(err error) error {
	if err == nil {
		return nil
	}
	return newPyError(ErrKindValueError, "%v", err)
}

// PoolReserve returns a free slot to start a worker in if submitted tasks wait for one,
// else -1. Register the worker with PoolAddWorker, or free the slot with PoolUnreserve
// if it could not be started.
func PoolReserve(h int64) (slot int, err error) {
	return with(h, func(p *taskpool.Pool) (slot int, err error) {
		slot, ok := p.Reserve()
		if !ok {
			return -1, nil
		}
		return slot, nil
	})
}

// PoolUnreserve frees a slot PoolReserve returned whose worker could not be started.
func PoolUnreserve(h int64, slot int) (ok bool, err error) {
	return with(h, func(p *taskpool.Pool) (ok bool, err error) {
		p.Unreserve(slot)
		return true, nil
	})
}

// PoolNext waits up to timeoutMs (negative: forever) for what the pool's owner must act
// on and writes its kind, slot, pid, exit code and job handle as five int64 at out.
// Kinds: 1 replace the worker, 2 it exited, 3 the pool stopped (after every finished
// job), 4 a job made with notify finished (its handle is the fifth field; 0 if the job
// was dropped meanwhile). Returns the kind, or 0 if nothing came. An owner uses
// PoolNext, or PoolNextEvent and PoolNextFinished, not both.
func PoolNext(h int64, out uintptr, timeoutMs int) (kind int, err error) {
	return with(h, func(p *taskpool.Pool) (kind int, err error) {
		ev, ok := p.Next(millis(timeoutMs))
		if !ok {
			return 0, nil
		}
		var job int64
		if ev.Kind == taskpool.EventFinished {
			job = jobHandle(p, ev.Job)
		}
		putInt64s(out, int64(ev.Kind), int64(ev.Slot), int64(ev.Pid), int64(ev.Code), job)
		return int(ev.Kind), nil
	})
}

// PoolBoardFd returns the descriptor of the pool's board, for the workers.
func PoolBoardFd(h int64) (fd int, err error) {
	return read(h, (*taskpool.Pool).BoardFd)
}

// PoolAddWorker registers a started worker: its slot and pid, the handle of its task
// queue, and either its process handle (spawn) or, with proc 0, the descriptor its
// fork server reports its exit code on. Returns the worker's id.
func PoolAddWorker(h int64, slot int, pid int, tasks int64, proc int64, sentinel int) (id int64, err error) {
	return with(h, func(p *taskpool.Pool) (id int64, err error) {
		q, err := get[*gompx.Queue](tasks)
		if err != nil {
			return 0, err
		}
		var child *gompx.Process
		if proc != 0 {
			if child, err = get[*gompx.Process](proc); err != nil {
				return 0, err
			}
		}
		wid, err := p.AddWorker(slot, pid, q, pyapi.WorkerExitCode(child, sentinel))
		return int64(wid), valueError(err)
	})
}

// PoolNextEvent waits up to timeoutMs for an event and writes its kind, slot, pid and
// exit code as four int64 at out. Returns the kind (1 replace the worker, 2 it exited,
// 3 the pool stopped), or 0 if nothing came.
func PoolNextEvent(h int64, out uintptr, timeoutMs int) (kind int, err error) {
	return with(h, func(p *taskpool.Pool) (kind int, err error) {
		ev, ok := p.NextEvent(millis(timeoutMs))
		if !ok {
			return 0, nil
		}
		putInt64s(out, int64(ev.Kind), int64(ev.Slot), int64(ev.Pid), int64(ev.Code))
		return int(ev.Kind), nil
	})
}

// PoolNextFinished waits up to timeoutMs for a job made with notify to finish and
// returns its handle; 0 if none did.
func PoolNextFinished(h int64, timeoutMs int) (job int64, err error) {
	return with(h, func(p *taskpool.Pool) (job int64, err error) {
		id, ok := p.NextFinished(millis(timeoutMs))
		if !ok {
			return 0, nil
		}
		return jobHandle(p, id), nil
	})
}

type poolJobKey struct {
	pool *taskpool.Pool
	id   uint64
}

// jobHandle is the handle of p's job id; 0 if the job was dropped.
func jobHandle(p *taskpool.Pool, id uint64) int64 {
	if jh, ok := jobIDs.Load(poolJobKey{p, id}); ok {
		return jh.(int64)
	}
	return 0
}

// PoolWaitPending waits up to timeoutMs (negative: forever) until fewer than limit tasks
// wait to be sent to a worker; false if the time ran out first.
func PoolWaitPending(h int64, limit int, timeoutMs int) (ok bool, err error) {
	return with(h, func(p *taskpool.Pool) (ok bool, err error) { return p.WaitPending(limit, millis(timeoutMs)), nil })
}

// PoolClose refuses new jobs; the workers exit once every job has finished.
func PoolClose(h int64) (ok bool, err error) {
	return do(h, (*taskpool.Pool).Close)
}

// PoolTerminate fails every unfinished task and dispatches nothing more.
func PoolTerminate(h int64) (ok bool, err error) {
	return do(h, (*taskpool.Pool).Terminate)
}

// PoolBreak breaks the pool: every unfinished task fails with reason.
func PoolBreak(h int64, reason string) (ok bool, err error) {
	return with(h, func(p *taskpool.Pool) (ok bool, err error) {
		p.Break(reason)
		return true, nil
	})
}

// PoolBroken returns why the pool broke, or "".
func PoolBroken(h int64) (reason string, err error) {
	return read(h, (*taskpool.Pool).Broken)
}

// PoolWorkers returns how many registered workers have not exited.
func PoolWorkers(h int64) (n int, err error) {
	return read(h, (*taskpool.Pool).Workers)
}

// PoolFree stops the pool's collector and forgets the handle; call it once the workers
// are gone. Freeing twice is harmless.
func PoolFree(h int64) (ok bool, err error) {
	return withOr(h, true, func(p *taskpool.Pool) (ok bool, err error) {
		handles.drop(h)
		p.Free()
		return true, nil
	})
}

// JobNew starts a job of length tasks (-1: unknown yet) in pool h; the hdrLen bytes at
// hdr (the pickled function) travel with each task. With notify, PoolNextFinished
// reports it once finished. Returns the job's handle.
func JobNew(h int64, hdr uintptr, hdrLen int, length int, notify bool) (job int64, err error) {
	return with(h, func(p *taskpool.Pool) (job int64, err error) {
		j, err := p.NewJob(pyMemory(hdr, hdrLen), length, notify)
		switch {
		case errors.Is(err, taskpool.ErrNotRunning):
			return 0, newPyError(ErrKindValueError, "Pool not running")
		case err != nil:
			return 0, newPyError(ErrKindRuntimeError, "%v", err)
		}
		job = handles.put(j)
		jobIDs.Store(poolJobKey{p, j.ID()}, job)
		return job, nil
	})
}

// JobApply starts a job of one task, as JobNew then JobSubmit would: the hdrLen bytes at
// hdr are its header, the bodyLen bytes at body its payload. No notify: a job with
// callbacks is registered in Python before its task can finish, so it uses JobNew.
func JobApply(h int64, hdr uintptr, hdrLen int, body uintptr, bodyLen int) (job int64, err error) {
	defer recoverInto(&err)
	job, err = JobNew(h, hdr, hdrLen, 1, false)
	if err != nil {
		return 0, err
	}
	j, err := get[*taskpool.Job](job)
	if err != nil {
		return 0, err
	}
	return job, valueError(j.Submit(0, [][]byte{pyMemory(body, bodyLen)}))
}

// JobSubmitList submits the items of the pickled list at addr (n bytes) as tasks
// first, first+1, ..., each item its own pickle (pickle.SplitList). Returns the number
// of tasks, or QueueUnsplittable: nothing was submitted, pickle the items one by one.
func JobSubmitList(job int64, first int, addr uintptr, n int) (count int, err error) {
	return with(job, func(j *taskpool.Job) (count int, err error) {
		splitter := splitters.Get().(*pickle.ListSplitter)
		defer splitters.Put(splitter)
		items, ok := splitter.Split(pyMemory(addr, n))
		if !ok {
			return QueueUnsplittable, nil
		}
		return len(items), valueError(j.Submit(first, items))
	})
}

// JobSubmit submits count tasks first, first+1, ...: their payloads lie back to back at
// data, their lengths are count uint64 at lengths.
func JobSubmit(job int64, first int, data uintptr, lengths uintptr, count int) (n int, err error) {
	return with(job, func(j *taskpool.Job) (n int, err error) {
		return count, valueError(j.Submit(first, backToBack(data, lengths, count)))
	})
}

// JobSetLength says how many tasks the job has.
func JobSetLength(job int64, n int) (ok bool, err error) {
	return with(job, func(j *taskpool.Job) (ok bool, err error) {
		return true, valueError(j.SetLength(n))
	})
}

// JobFail records for task index a result of the given status (1: the pickled exception
// at addr, n bytes) that no worker produced.
func JobFail(job int64, index int, status int, addr uintptr, n int) (ok bool, err error) {
	return with(job, func(j *taskpool.Job) (ok bool, err error) {
		return true, valueError(j.Fail(index, taskpool.Status(status), pyMemory(addr, n)))
	})
}

// JobWait waits up to timeoutMs (negative: forever) until every task of the job has a
// result; false if the time ran out first.
func JobWait(job int64, timeoutMs int) (done bool, err error) {
	passThroughScheduler()
	return with(job, func(j *taskpool.Job) (done bool, err error) { return j.Wait(millis(timeoutMs)), nil })
}

// JobTake waits up to timeoutMs for results not taken yet (mode: TakeOrdered,
// TakeUnordered, TakeOutcome or TakeOrderedOK, as taskpool.TakeMode says) and copies as many as fit
// into the capacity bytes at addr, back to back; for each it writes two uint64 at lens
// (at most max pairs): index<<8 | status, and length. Returns the count, count |
// JobSpliced (see there), JobTimedOut, JobExhausted, or JobNeedRoom - n when the next
// result needs n bytes.
func JobTake(job int64, mode int, addr uintptr, capacity int, lens uintptr, max int, timeoutMs int) (r int64, err error) {
	passThroughScheduler()
	return with(job, func(j *taskpool.Job) (int64, error) {
		b, err := j.TakeInto(taskpool.TakeMode(mode), millis(timeoutMs), pyMemory(addr, capacity),
			pyMemory(lens, taskpool.EntrySize*max))
		switch {
		case errors.Is(err, taskpool.ErrTimeout):
			return JobTimedOut, nil
		case errors.Is(err, taskpool.ErrExhausted):
			return JobExhausted, nil
		case err != nil:
			return 0, newPyError(ErrKindSystemError, "%v", err)
		case b.Count == 0 && b.Need > 0:
			return int64(JobNeedRoom - b.Need), nil
		case b.Joined:
			return int64(b.Count) | JobSpliced, nil
		}
		return int64(b.Count), nil
	})
}

// JobCancel withdraws the job, as JobDrop does, if none of its tasks has been sent to a
// worker yet; returns whether it did (Future.cancel).
func JobCancel(job int64) (cancelled bool, err error) {
	return withOr(job, false, func(j *taskpool.Job) (cancelled bool, err error) {
		if !j.Cancel() {
			return false, nil
		}
		handles.drop(job)
		jobIDs.Delete(poolJobKey{j.Pool(), j.ID()})
		return true, nil
	})
}

// JobDrop forgets the job: tasks not yet sent are withdrawn, results still to come are
// discarded. Returns whether none of its tasks had been sent. Dropping twice is harmless.
func JobDrop(job int64) (none bool, err error) {
	return withOr(job, false, func(j *taskpool.Job) (none bool, err error) {
		handles.drop(job)
		none = j.Drop()
		jobIDs.Delete(poolJobKey{j.Pool(), j.ID()})
		return none, nil
	})
}

// QueueSetReadSpin sets how long gets of this process on queue h poll an empty queue
// before they sleep (microseconds; 0: sleep at once). Pool workers do not spin: on a
// machine with few CPUs the spinning worker holds a CPU the parent needs.
func QueueSetReadSpin(h int64, micros int) (ok bool, err error) {
	return with(h, func(q *gompx.Queue) (ok bool, err error) {
		pyapi.Reader(q).SetReadSpin(time.Duration(micros) * time.Microsecond)
		return true, nil
	})
}
