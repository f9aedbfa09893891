package taskpool

import (
	"testing"
	"time"

	"github.com/gompx/gompx/gompx"
)

// claim asks Reserve about one submitted call, as an OnDemand owner does, and starts a
// worker in the slot it gets; it reports whether it started one.
func (h *harness) claim() bool {
	slot, ok := h.p.Reserve()
	if ok {
		h.startWorker(slot)
	}
	return ok
}

// count is how many workers the harness has started.
func (h *harness) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.started
}

// submit submits one task as a job of its own.
func (h *harness) submit(body string) *Job {
	h.t.Helper()
	j, err := h.p.NewJob(nil, 1, false)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := j.Submit(0, [][]byte{[]byte(body)}); err != nil {
		h.t.Fatal(err)
	}
	return j
}

func TestOnDemandStartsAWorkerPerWaitingTask(t *testing.T) {
	block := make(chan struct{})
	h := newHarness(t, Options{Slots: 3, OnDemand: true}, func(t Task) (Status, []byte, bool) {
		if string(t.Body) == "block" {
			<-block
		}
		return StatusOK, t.Body, false
	})
	// One call at a time: the first worker, idle again, runs them all.
	for i := 0; i < 3; i++ {
		j := h.submit("x")
		h.claim()
		if !j.Wait(5 * time.Second) {
			t.Fatal("task did not finish")
		}
		j.Drop()
	}
	if h.count() != 1 {
		t.Errorf("3 tasks one after the other started %d workers, want 1", h.count())
	}
	// Calls that wait: one worker each, up to the slots (the first reuses the idle one).
	var jobs []*Job
	for i := 0; i < 5; i++ {
		jobs = append(jobs, h.submit("block"))
		h.claim()
	}
	if h.count() != 3 || h.p.Workers() != 3 {
		t.Errorf("5 blocked tasks: %d workers started, %d registered; want 3, 3", h.count(), h.p.Workers())
	}
	close(block)
	for _, j := range jobs {
		if !j.Wait(5 * time.Second) {
			t.Fatal("blocked task did not finish")
		}
	}
}

func TestOnDemandReplacesOnlyWhileTasksWait(t *testing.T) {
	h := newHarness(t, Options{Slots: 1, OnDemand: true, MaxTasksPerWorker: 1}, upper)
	j := h.submit("a")
	h.claim()
	if !j.Wait(5 * time.Second) {
		t.Fatal("task did not finish")
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.p.Workers() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if h.count() != 1 || h.p.Workers() != 0 {
		t.Fatalf("the retired worker was replaced with no task waiting: %d started, %d registered",
			h.count(), h.p.Workers())
	}
	// Three tasks, one per worker: the first is started by Reserve, the others replace it.
	var jobs []*Job
	for _, body := range []string{"b", "c", "d"} {
		jobs = append(jobs, h.submit(body))
		h.claim()
	}
	for _, j := range jobs {
		if !j.Wait(5 * time.Second) {
			t.Fatal("task did not finish")
		}
	}
	if h.count() != 4 {
		t.Errorf("%d workers started, want 4 (one per task)", h.count())
	}
}

func TestOnDemandStartsAWorkerForACallThatNeverReachesIt(t *testing.T) {
	// CPython's rule counts submitted calls, not tasks: a call whose arguments could not
	// be pickled still takes an idle worker or starts one.
	h := newHarness(t, Options{Slots: 2, OnDemand: true}, upper)
	for i := 0; i < 3; i++ {
		h.claim()
	}
	if h.count() != 2 {
		t.Errorf("3 calls with no task: %d workers started, want 2 (the slots)", h.count())
	}
}

func TestReserveAndUnreserve(t *testing.T) {
	results, err := gompx.NewQueue(gompx.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()
	p, err := New(Options{Results: results, Slots: 2, OnDemand: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	j, _ := p.NewJob(nil, 2, false)
	j.Submit(0, [][]byte{nil, nil})
	a, okA := p.Reserve()
	b, okB := p.Reserve()
	if !okA || !okB || a == b {
		t.Fatalf("two waiting tasks: Reserve gave %d,%v and %d,%v", a, okA, b, okB)
	}
	if s, ok := p.Reserve(); ok {
		t.Errorf("a third Reserve for two tasks gave slot %d", s)
	}
	p.Unreserve(a)
	if s, ok := p.Reserve(); !ok || s != a {
		t.Errorf("Reserve after Unreserve(%d) = %d, %v", a, s, ok)
	}
	p.Terminate()
	p.Unreserve(a)
	if s, ok := p.Reserve(); ok {
		t.Errorf("a terminated pool reserved slot %d", s)
	}
}

func TestNextHandsOutFinishedJobsBeforeStopped(t *testing.T) {
	results, err := gompx.NewQueue(gompx.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()
	p, err := New(Options{Results: results, Slots: 1, OnDemand: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	done, _ := p.NewJob(nil, 1, true)
	done.Fail(0, StatusError, []byte("x"))
	waiting, _ := p.NewJob(nil, 1, true)
	waiting.Submit(0, [][]byte{nil})
	p.Terminate() // fails the waiting job, then stops
	var got []Event
	for {
		ev, ok := p.Next(time.Second)
		if !ok {
			t.Fatalf("Next timed out after %v", got)
		}
		got = append(got, ev)
		if ev.Kind == EventStopped {
			break
		}
	}
	want := []Event{{Kind: EventFinished, Job: done.ID()}, {Kind: EventFinished, Job: waiting.ID()},
		{Kind: EventStopped}}
	if len(got) != len(want) {
		t.Fatalf("Next gave %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
