package workpool

import (
	"context"
	"testing"
)

// A worker runs at most retireAfter tasks of one key, then a fresh process takes its
// slot; tasks of other keys do not count toward it, whether the tasks come one at a
// time or pipelined.
func TestSubmitRetireReplacesTheWorkerAfterNTasksOfItsKey(t *testing.T) {
	type sub struct {
		key   string
		after int
	}
	a2, b0 := sub{"a", 2}, sub{"b", 0}
	cases := []struct {
		name      string
		subs      []sub
		pipelined bool
		want      []int // the process each task ran in, numbered in order of appearance
	}{
		{"one key", []sub{a2, a2, a2, a2, a2, a2}, false, []int{0, 0, 1, 1, 2, 2}},
		{"one key pipelined", []sub{a2, a2, a2, a2, a2}, true, []int{0, 0, 1, 1, 2}},
		{"other keys do not count", []sub{a2, b0, b0, a2, b0, a2}, false, []int{0, 0, 0, 0, 1, 1}},
		{"per key", []sub{a2, {"c", 3}, a2, {"c", 3}, {"c", 3}}, false, []int{0, 0, 0, 1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, Options{Workers: 1, Command: command("pid")})
			var tasks []*Task
			var pids []string
			for _, s := range c.subs {
				task, err := p.SubmitRetire([]byte("x"), s.key, s.after)
				if err != nil {
					t.Fatal(err)
				}
				if c.pipelined {
					tasks = append(tasks, task)
					continue
				}
				reply, err := task.Wait(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, string(reply))
			}
			for _, task := range tasks {
				reply, err := task.Wait(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, string(reply))
			}
			seen := map[string]int{}
			for i, pid := range pids {
				if _, ok := seen[pid]; !ok {
					seen[pid] = len(seen)
				}
				if seen[pid] != c.want[i] {
					t.Fatalf("task %d ran in process #%d, want #%d (pids %v)", i, seen[pid], c.want[i], pids)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
