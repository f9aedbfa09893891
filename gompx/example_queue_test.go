package gompx_test

import (
	"context"
	"fmt"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/pickle"
)

// A queue in shared memory: any process holding q.Fd() (passed in Cmd.Files, or to
// Python's gompx.queues.attach) puts and gets on the same queue. Values travel as
// pickles; []byte travels raw.
func ExampleNewQueue() {
	q, err := gompx.NewQueue(gompx.QueueOptions{MaxSize: 100})
	if err != nil {
		panic(err)
	}
	defer q.Close()
	ctx := context.Background()
	q.Put(ctx, map[string]int{"jobs": 3})
	q.Put(ctx, []byte("raw"))
	fmt.Println(q.Len())
	v, _ := q.Get(ctx)
	jobs, _ := v.(*pickle.Dict).Get("jobs") // a Python dict decodes to *pickle.Dict
	fmt.Println("jobs:", jobs)
	b, _ := q.Get(ctx)
	fmt.Println(string(b.([]byte)))
	if _, err := q.TryGet(); err == gompx.ErrQueueEmpty {
		fmt.Println("empty")
	}
	// Output:
	// 2
	// jobs: 3
	// raw
	// empty
}
