package gompx_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx"
)

// A Lock lives in shared memory: another process opens it from l.Ref() (Retain once for
// it first, and pass the arena file, Ref().Fd, e.g. in Cmd.ExtraFiles). It is owned by
// a process, not a goroutine: any goroutine may release it, and a process that dies
// holding it hands it to the next LockContext with ErrOwnerDied. It is a sync.Locker,
// with a context-bounded LockContext beside Lock.
func ExampleLock() {
	l, err := gompx.NewLock()
	if err != nil {
		panic(err)
	}
	defer l.Close()

	var guard sync.Locker = l // whatever a sync.Mutex guards
	guard.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = l.LockContext(ctx)
	fmt.Println(errors.Is(err, gompx.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	fmt.Println(err)
	fmt.Println(l.TryLock())
	guard.Unlock()
	err = l.Release()
	fmt.Println(errors.Is(err, gompx.ErrNotLocked))
	fmt.Println(l.TryLock())
	// Output:
	// true true
	// gompx: lock: timed out
	// false
	// true
	// true
}

// Three parties meet at a Barrier for each of two rounds; the last to arrive runs the
// action before anyone goes on. Parties may be goroutines, as here, or processes that
// opened the barrier with OpenBarrier.
func ExampleBarrier() {
	b, err := gompx.NewBarrier(3)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	round := 0 // only the action touches it, and the barrier orders the actions
	var wg sync.WaitGroup
	for p := 0; p < 3; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 2; r++ {
				b.Wait(-1, func() error {
					round++
					fmt.Println("round", round, "complete")
					return nil
				})
			}
		}()
	}
	wg.Wait()
	b.Abort()
	_, err = b.Wait(-1, nil)
	fmt.Println(errors.Is(err, gompx.ErrBrokenBarrier))
	// Output:
	// round 1 complete
	// round 2 complete
	// true
}

// A SharedHeap of its own keeps its blocks apart from the process's. Arenas lists every
// block, free or not; when the last one is freed, the arena is reset and its memory goes
// back to the kernel (with SetKeep(0); by default, an arena under 4 MiB keeps its blocks).
func ExampleSharedHeap() {
	h := gompx.NewSharedHeap()
	defer h.Close()
	h.SetKeep(0)
	a, _ := h.Alloc(100)
	b, _ := h.Alloc(1000)
	a.Close()
	arenas, _ := h.Arenas()
	for _, blk := range arenas[0].Blocks {
		fmt.Println(blk.Size, blk.Free, blk.Refs)
	}
	b.Close()
	arenas, _ = h.Arenas()
	fmt.Println(len(arenas[0].Blocks), "blocks")
	// Output:
	// 128 true 0
	// 1024 false 1
	// 0 blocks
}

// An RLock is reentrant per owner token (Go has no goroutine identity); For binds a
// token, giving a sync.Locker that may be taken again by the same owner.
func ExampleRLock_For() {
	r, err := gompx.NewRLock()
	if err != nil {
		panic(err)
	}
	defer r.Close()

	var worker1 sync.Locker = r.For(1)
	worker1.Lock()
	worker1.Lock() // the same owner: one more level
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Println(errors.Is(r.For(2).LockContext(ctx), context.Canceled))
	worker1.Unlock()
	worker1.Unlock()
	fmt.Println(r.For(2).LockContext(context.Background()))
	// Output:
	// true
	// <nil>
}
