package taskpool_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/taskpool"
)

// A pool of one worker. The worker here is a goroutine; in gompx it is a Python process
// that holds the two queues' descriptors and the board's, and does exactly this.
func Example() {
	results, _ := gompx.NewQueue(gompx.QueueOptions{})
	tasks, _ := gompx.NewQueue(gompx.QueueOptions{})
	defer results.Close()
	defer tasks.Close()
	pool, _ := taskpool.New(taskpool.Options{Results: results, Slots: 1})
	exited := make(chan int, 1)
	pool.AddWorker(0, 4242, tasks, func() int { return <-exited })

	go func() { // the worker
		for {
			_, msg, _ := tasks.Receive(-1)
			t, _ := taskpool.ParseTask(msg)
			if t.Job == 0 { // stop
				exited <- 0
				return
			}
			taskpool.MarkStarted(pool.Board(), 0, t.Seq)
			reply := append(bytes.ToUpper(t.Header), t.Body...)
			results.Send(gompx.KindBytes, -1, taskpool.AppendResult(nil, t, taskpool.StatusOK, reply))
		}
	}()

	job, _ := pool.NewJob([]byte("hello "), 2, false)
	job.Submit(0, [][]byte{[]byte("world"), []byte("gophers")})
	job.Wait(-1)
	for i := 0; i < 2; i++ {
		_, out, _ := job.Result(i)
		fmt.Println(string(out))
	}
	pool.Close() // the worker gets the stop message once every job is done
	ev, _ := pool.NextEvent(time.Second)
	fmt.Println(ev.Kind == taskpool.EventExited, ev.Slot, ev.Code)
	pool.Free()
	// Output:
	// HELLO world
	// HELLO gophers
	// true 0 0
}
