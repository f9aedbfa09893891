package taskpool

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx"
)

// behaviour is what a test worker does with one task: the status and payload to send,
// or die (exit with code -9 before answering).
type behaviour func(Task) (status Status, out []byte, die bool)

// upper answers a task with its body in upper case; "die" kills the worker.
func upper(t Task) (Status, []byte, bool) {
	switch string(t.Body) {
	case "die":
		return 0, nil, true
	case "fail":
		return StatusError, []byte("boom"), false
	}
	return StatusOK, bytes.ToUpper(t.Body), false
}

// harness runs a pool whose workers are goroutines behaving as worker processes do:
// a task queue each, the board, results in order. It replaces workers on EventReplace.
type harness struct {
	t       testing.TB
	p       *Pool
	results *gompx.Queue
	behave  behaviour
	max     int
	wg      sync.WaitGroup
	mu      sync.Mutex
	started int
	exited  map[int]int // the exit codes of the workers that exited, by pid
	queues  []*gompx.Queue
	workers sync.WaitGroup
}

func newHarness(t testing.TB, opts Options, behave behaviour) *harness {
	t.Helper()
	results, err := gompx.NewQueue(gompx.QueueOptions{Capacity: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	opts.Results = results
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, p: p, results: results, behave: behave, max: opts.MaxTasksPerWorker,
		exited: make(map[int]int)}
	for slot := 0; slot < opts.Slots && !opts.OnDemand; slot++ {
		h.startWorker(slot)
	}
	h.wg.Add(1)
	go h.maintain()
	t.Cleanup(func() {
		p.Terminate()
		h.wg.Wait()
		h.mu.Lock()
		for _, q := range h.queues { // stop the workers still reading
			q.Send(gompx.KindBytes, 0, AppendTask(nil, Task{}))
		}
		h.mu.Unlock()
		h.workers.Wait()
		for _, q := range h.queues {
			q.Close()
		}
		p.Free()
		results.Close()
	})
	return h
}

func (h *harness) startWorker(slot int) {
	tasks, err := gompx.NewQueue(gompx.QueueOptions{Capacity: 16 << 20})
	if err != nil {
		h.t.Error(err)
		return
	}
	exit := make(chan int, 1)
	h.mu.Lock()
	h.started++
	pid := 1000 + h.started
	h.queues = append(h.queues, tasks)
	h.mu.Unlock()
	if _, err := h.p.AddWorker(slot, pid, tasks, func() int { return <-exit }); err != nil {
		h.t.Error(err)
		return
	}
	h.workers.Add(1)
	go h.work(slot, pid, tasks, exit)
}

func (h *harness) work(slot, pid int, tasks *gompx.Queue, supervisor chan int) {
	defer h.workers.Done()
	exit := make(chan int, 1)
	defer func() {
		code := <-exit
		h.mu.Lock()
		h.exited[pid] = code
		h.mu.Unlock()
		supervisor <- code
	}()
	done := 0
	for {
		_, msg, err := tasks.Receive(5 * time.Second)
		if err != nil {
			exit <- 1
			return
		}
		task, err := ParseTask(msg)
		if err != nil || task.Job == 0 {
			exit <- 0
			return
		}
		MarkStarted(h.p.Board(), slot, task.Seq)
		status, out, die := h.behave(task)
		if die {
			exit <- -9
			return
		}
		if err := h.results.Send(gompx.KindBytes, -1, AppendResult(nil, task, status, out)); err != nil {
			exit <- 1
			return
		}
		if done++; h.max > 0 && done == h.max {
			exit <- 0
			return
		}
	}
}

func (h *harness) maintain() {
	defer h.wg.Done()
	for {
		ev, ok := h.p.NextEvent(10 * time.Second)
		if !ok || ev.Kind == EventStopped {
			return
		}
		if ev.Kind == EventReplace {
			h.startWorker(ev.Slot)
		}
	}
}

// run submits bodies as one job and returns its results, in order, as "status:payload".
func (h *harness) run(bodies ...string) []string {
	h.t.Helper()
	j, err := h.p.NewJob([]byte("hdr"), len(bodies), false)
	if err != nil {
		h.t.Fatal(err)
	}
	payloads := make([][]byte, len(bodies))
	for i, b := range bodies {
		payloads[i] = []byte(b)
	}
	if err := j.Submit(0, payloads); err != nil {
		h.t.Fatal(err)
	}
	if !j.Wait(10 * time.Second) {
		h.t.Fatal("job did not finish in 10 s")
	}
	out := make([]string, len(bodies))
	for i := range bodies {
		status, payload, err := j.Result(i)
		if err != nil {
			h.t.Fatal(err)
		}
		out[i] = fmt.Sprintf("%d:%s", status, payload)
	}
	j.Drop()
	return out
}

func TestPoolOutcomes(t *testing.T) {
	lost := func(s string) bool {
		return strings.HasPrefix(s, "2:worker ") && strings.HasSuffix(s, " exited with code -9 while running this task")
	}
	cases := []struct {
		name   string
		opts   Options
		bodies []string
		want   []string // "" means: the task was lost with its worker
	}{
		{"one", Options{Slots: 1}, []string{"a"}, []string{"0:A"}},
		{"many on two", Options{Slots: 2}, []string{"a", "b", "c", "d", "e"}, []string{"0:A", "0:B", "0:C", "0:D", "0:E"}},
		{"error", Options{Slots: 2}, []string{"a", "fail", "c"}, []string{"0:A", "1:boom", "0:C"}},
		{"death mid-task", Options{Slots: 1}, []string{"a", "die", "c", "d"}, []string{"0:A", "", "0:C", "0:D"}},
		{"two deaths", Options{Slots: 2}, []string{"die", "b", "die", "d"}, []string{"", "0:B", "", "0:D"}},
		{"max tasks", Options{Slots: 2, MaxTasksPerWorker: 1}, []string{"a", "b", "c", "d", "e"}, []string{"0:A", "0:B", "0:C", "0:D", "0:E"}},
		{"max tasks and death", Options{Slots: 1, MaxTasksPerWorker: 2}, []string{"a", "die", "c", "d", "e"}, []string{"0:A", "", "0:C", "0:D", "0:E"}},
		{"empty payload", Options{Slots: 1}, []string{""}, []string{"0:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.opts, upper)
			got := h.run(c.bodies...)
			for i := range got {
				if c.want[i] == "" && !lost(got[i]) || c.want[i] != "" && got[i] != c.want[i] {
					t.Errorf("task %d: got %q, want %q", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestPoolTakeUnorderedAndOrdered(t *testing.T) {
	h := newHarness(t, Options{Slots: 2}, upper)
	for _, ordered := range []bool{true, false} {
		j, err := h.p.NewJob(nil, -1, false)
		if err != nil {
			t.Fatal(err)
		}
		const n = 1000
		for i := 0; i < n; i += 100 {
			batch := make([][]byte, 100)
			for k := range batch {
				batch[k] = []byte(fmt.Sprintf("x%d", i+k))
			}
			if err := j.Submit(i, batch); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.SetLength(n); err != nil {
			t.Fatal(err)
		}
		seen := make([]bool, n)
		next := 0
		for {
			_, err := j.Take(ordered, 5*time.Second, func(i int, s Status, b []byte) bool {
				if ordered && i != next {
					t.Errorf("ordered take gave %d, want %d", i, next)
				}
				next++
				if want := fmt.Sprintf("X%d", i); s != StatusOK || string(b) != want || seen[i] {
					t.Errorf("result %d: %d %q (seen %v), want %q", i, s, b, seen[i], want)
				}
				seen[i] = true
				return true
			})
			if errors.Is(err, ErrExhausted) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if next != n {
			t.Errorf("ordered=%v: took %d results, want %d", ordered, next, n)
		}
	}
}

func TestPoolCloseStopsWorkers(t *testing.T) {
	h := newHarness(t, Options{Slots: 2}, upper)
	h.run("a", "b")
	h.p.Close()
	if _, err := h.p.NewJob(nil, 1, false); !errors.Is(err, ErrNotRunning) {
		t.Errorf("NewJob after Close: %v, want ErrNotRunning", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.p.Workers() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := h.p.Workers(); n != 0 {
		t.Errorf("%d workers left after Close", n)
	}
}

func TestPoolTerminateFailsUnfinished(t *testing.T) {
	block := make(chan struct{})
	h := newHarness(t, Options{Slots: 1}, func(t Task) (Status, []byte, bool) {
		<-block
		return StatusOK, nil, false
	})
	defer close(block)
	j, _ := h.p.NewJob(nil, 3, true)
	j.Submit(0, [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	h.p.Terminate()
	if !j.Wait(time.Second) {
		t.Fatal("terminate left the job unfinished")
	}
	for i := 0; i < 3; i++ {
		if s, _, _ := j.Result(i); s != StatusTerminated {
			t.Errorf("task %d: status %d, want StatusTerminated", i, s)
		}
	}
	if id, ok := h.p.NextFinished(time.Second); !ok || id != j.ID() {
		t.Errorf("NextFinished = %d, %v; want %d", id, ok, j.ID())
	}
}

func TestPoolBreakOnDeath(t *testing.T) {
	h := newHarness(t, Options{Slots: 2, BreakOnDeath: true}, upper)
	got := h.run("a", "die", "c", "d", "e", "f")
	if got[1][0] != '4' && got[1][0] != '2' {
		t.Errorf("the task that killed its worker: %q", got[1])
	}
	if h.p.Broken() == "" {
		t.Error("pool not broken after a worker died")
	}
	if _, err := h.p.NewJob(nil, 1, false); !errors.Is(err, ErrBroken) {
		t.Errorf("NewJob on a broken pool: %v, want ErrBroken", err)
	}
}

func TestPoolDropWithdraws(t *testing.T) {
	block := make(chan struct{})
	h := newHarness(t, Options{Slots: 1}, func(t Task) (Status, []byte, bool) {
		<-block
		return StatusOK, nil, false
	})
	first, _ := h.p.NewJob(nil, 1, false)
	first.Submit(0, [][]byte{nil})
	// The worker's window is full of the first job only if it holds one task: fill it.
	filler, _ := h.p.NewJob(nil, 1, false)
	filler.Submit(0, [][]byte{nil})
	later, _ := h.p.NewJob(nil, 1, false)
	later.Submit(0, [][]byte{nil})
	if !later.Drop() {
		t.Error("Drop of a job none of whose tasks was sent reported false")
	}
	close(block)
	if first.Drop() {
		t.Error("Drop of a job whose task was sent reported true")
	}
}

func TestSubmitOutsideLength(t *testing.T) {
	h := newHarness(t, Options{Slots: 1}, upper)
	j, _ := h.p.NewJob(nil, 1, false)
	if err := j.Submit(0, [][]byte{nil, nil}); err == nil {
		t.Error("Submit past the job's length succeeded")
	}
	if err := j.Submit(-1, [][]byte{nil}); err == nil {
		t.Error("Submit at -1 succeeded")
	}
}

func TestParseTaskShort(t *testing.T) {
	msg := AppendTask(nil, Task{Job: 1, Header: []byte("abc"), Body: []byte("d")})
	for n := 0; n < len(msg)-1; n++ {
		if _, err := ParseTask(msg[:n]); n < HeaderLen+3 && !errors.Is(err, ErrShortMessage) {
			t.Errorf("ParseTask of %d bytes: %v, want ErrShortMessage", n, err)
		}
	}
	got, err := ParseTask(msg)
	if err != nil || got.Job != 1 || string(got.Header) != "abc" || string(got.Body) != "d" {
		t.Errorf("ParseTask = %+v, %v", got, err)
	}
}

func TestPoolStress(t *testing.T) {
	h := newHarness(t, Options{Slots: 2}, upper)
	const n = 20000
	bodies := make([]string, n)
	want := make([]string, n)
	for i := range bodies {
		bodies[i] = fmt.Sprintf("t%d", i)
		want[i] = fmt.Sprintf("0:T%d", i)
	}
	got := h.run(bodies...)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("task %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// A Take that finds no result in time fails with the core's one timeout.
func TestTakeTimesOut(t *testing.T) {
	block := make(chan struct{})
	h := newHarness(t, Options{Slots: 1}, func(t Task) (Status, []byte, bool) {
		<-block
		return StatusOK, nil, false
	})
	defer close(block)
	j, err := h.p.NewJob(nil, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	j.Submit(0, [][]byte{nil})
	_, err = j.Take(true, 10*time.Millisecond, func(int, Status, []byte) bool { return true })
	if !errors.Is(err, gompx.ErrTimeout) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Take of a job still running: %v, want gompx.ErrTimeout", err)
	}
}

func TestJobCancel(t *testing.T) {
	block := make(chan struct{})
	h := newHarness(t, Options{Slots: 1}, func(t Task) (Status, []byte, bool) {
		<-block
		return StatusOK, nil, false
	})
	defer close(block)
	var jobs []*Job
	for i := 0; i < 4; i++ { // the window is 2: jobs 0 and 1 are sent, 2 and 3 wait
		j, _ := h.p.NewJob(nil, 1, false)
		j.Submit(0, [][]byte{nil})
		jobs = append(jobs, j)
	}
	if jobs[0].Cancel() {
		t.Error("Cancel of a job whose task was sent succeeded")
	}
	if !jobs[3].Cancel() {
		t.Error("Cancel of a job whose task waits failed")
	}
	if jobs[3].Cancel() {
		t.Error("second Cancel succeeded")
	}
}

func TestLongTaskDoesNotHoldUpShortOnes(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, Options{Slots: 2}, func(t Task) (Status, []byte, bool) {
		if string(t.Body) == "slow" {
			<-release
		}
		return StatusOK, t.Body, false
	})
	defer close(release)
	slow, _ := h.p.NewJob(nil, 1, false)
	slow.Submit(0, [][]byte{[]byte("slow")})
	time.Sleep(10 * time.Millisecond) // the slow task is running
	for round := 0; round < 3; round++ {
		fast, _ := h.p.NewJob(nil, 200, false)
		bodies := make([][]byte, 200)
		for i := range bodies {
			bodies[i] = []byte("fast")
		}
		fast.Submit(0, bodies)
		if !fast.Wait(5 * time.Second) {
			t.Fatalf("round %d: short tasks stuck behind a long one", round)
		}
		fast.Drop()
	}
	if slow.Wait(0) {
		t.Fatal("the slow task finished early")
	}
}

func TestTasksQueuedBehindALongOneAreTakenBack(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, Options{Slots: 2}, func(t Task) (Status, []byte, bool) {
		if string(t.Body) == "slow" {
			<-release
		}
		return StatusOK, t.Body, false
	})
	defer close(release)
	// Slow tasks at the head of both workers' shares, with short tasks behind them.
	bodies := [][]byte{[]byte("slow"), []byte("fast"), []byte("fast"), []byte("fast")}
	for i := 0; i < 20; i++ {
		bodies = append(bodies, []byte("fast"))
	}
	j, _ := h.p.NewJob(nil, len(bodies), false)
	j.Submit(0, bodies)
	got := 0
	deadline := time.Now().Add(5 * time.Second)
	for got < len(bodies)-1 && time.Now().Before(deadline) {
		n, _ := j.Take(false, 100*time.Millisecond, func(int, Status, []byte) bool { return true })
		got += n
	}
	if got != len(bodies)-1 {
		t.Fatalf("%d of %d short tasks done while the long one runs", got, len(bodies)-1)
	}
}

// takeAll takes n results of j, waiting up to 3 s in all: less than the 5 s after
// which a harness worker that waits for a task gives up.
func takeAll(t *testing.T, j *Job, n int) {
	t.Helper()
	got := 0
	deadline := time.Now().Add(3 * time.Second)
	for got < n && time.Now().Before(deadline) {
		k, _ := j.Take(false, 100*time.Millisecond, func(int, Status, []byte) bool { return true })
		got += k
	}
	if got != n {
		t.Fatalf("%d of %d results came in", got, n)
	}
}

// A worker counts the tasks it runs, not those the pool meant for it: tasks taken back
// from its queue must not count towards its MaxTasksPerWorker, or the pool stops
// sending to a worker that waits for more before it exits, and once every worker is in
// that state, tasks wait forever (the soak's wedge).
func TestTakenBackTasksDoNotCountTowardsMaxTasks(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, Options{Slots: 2, MaxTasksPerWorker: 3}, func(t Task) (Status, []byte, bool) {
		if string(t.Body) == "slow" {
			<-release
		}
		return StatusOK, t.Body, false
	})
	released := false
	t.Cleanup(func() { // before the harness's: a failure leaves the slow task running
		if !released {
			close(release)
		}
	})
	// The first worker gets the slow task and a short one behind it; the second
	// worker, idle once it answered its two, is given that short one, taken back.
	first, _ := h.p.NewJob(nil, 4, false)
	first.Submit(0, [][]byte{[]byte("slow"), []byte("fast"), []byte("fast"), []byte("fast")})
	takeAll(t, first, 3)
	close(release)
	released = true
	takeAll(t, first, 1)
	// The first worker ran one task: it runs two more, then exits.
	for round := 0; round < 3; round++ {
		j, _ := h.p.NewJob(nil, 6, false)
		bodies := make([][]byte, 6)
		for i := range bodies {
			bodies[i] = []byte("fast")
		}
		j.Submit(0, bodies)
		takeAll(t, j, 6)
	}
	// Before the harness's worker gives up waiting for a task (5 s).
	deadline := time.Now().Add(3 * time.Second)
	for {
		h.mu.Lock()
		code, gone := h.exited[1001]
		h.mu.Unlock()
		if gone {
			if code != 0 {
				t.Fatalf("the worker whose task was taken back exited with code %d", code)
			}
			break
		}
		if time.Now().After(deadline) {
			h.p.mu.Lock()
			for _, w := range h.p.workers {
				t.Logf("worker %d: sent %d, holds %d", w.pid, w.sent, len(w.held))
			}
			h.p.mu.Unlock()
			t.Fatal("the worker whose task was taken back never got its last tasks")
		}
		time.Sleep(time.Millisecond)
	}
}

// The soak's wedge: each task taken back from a worker with MaxTasksPerWorker left it
// unable to get its last tasks, and an idle worker of that kind also had tasks taken
// back from a busy one, until no worker could take the tasks left.
func TestTakingTasksBackDoesNotWedgeAPoolWithMaxTasks(t *testing.T) {
	releases := make([]chan struct{}, 3)
	for i := range releases {
		releases[i] = make(chan struct{})
	}
	h := newHarness(t, Options{Slots: 2, MaxTasksPerWorker: 3}, func(t Task) (Status, []byte, bool) {
		var n int
		if _, err := fmt.Sscanf(string(t.Body), "slow%d", &n); err == nil {
			<-releases[n]
		}
		return StatusOK, t.Body, false
	})
	released := 0
	t.Cleanup(func() { // before the harness's: a failed phase leaves its slow task running
		for _, r := range releases[released:] {
			close(r)
		}
	})
	phases := [][]string{
		{"slow0", "fast", "fast", "fast"},
		{"slow1", "fast"},
		{"slow2", "fast"},
		{"fast", "fast", "fast", "fast"},
	}
	for i, bodies := range phases {
		j, _ := h.p.NewJob(nil, len(bodies), false)
		payloads := make([][]byte, len(bodies))
		for k, b := range bodies {
			payloads[k] = []byte(b)
		}
		j.Submit(0, payloads)
		if i < len(releases) {
			// Every short task finishes while the slow one runs (taken back if it
			// was queued behind it), then the slow one.
			takeAll(t, j, len(bodies)-1)
			close(releases[i])
			released++
			takeAll(t, j, 1)
		} else {
			takeAll(t, j, len(bodies))
		}
		j.Drop()
	}
	// A worker that waited in vain for a task gives up after 5 s (harness.work) and
	// its replacement takes the tasks left: the wedge, but late.
	h.mu.Lock()
	defer h.mu.Unlock()
	for pid, code := range h.exited {
		if code != 0 {
			t.Errorf("worker %d exited with code %d", pid, code)
		}
	}
}
