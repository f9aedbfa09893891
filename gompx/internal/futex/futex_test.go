package futex_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/futex"
)

func skipENOSYS(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("futex(2) not available in this kernel (ENOSYS)")
	}
}

func TestWaitReturns(t *testing.T) {
	tests := []struct {
		name    string
		word    uint32
		val     uint32
		timeout time.Duration
		want    error
	}{
		{"word differs", 1, 0, time.Second, unix.EAGAIN},
		{"times out", 7, 7, 10 * time.Millisecond, unix.ETIMEDOUT},
		{"zero timeout", 7, 7, 0, unix.ETIMEDOUT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.word
			err := futex.Wait(&w, tt.val, tt.timeout)
			skipENOSYS(t, err)
			if err != tt.want {
				t.Fatalf("Wait = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWakeNobody(t *testing.T) {
	var w uint32
	n, err := futex.Wake(&w, 1)
	skipENOSYS(t, err)
	if err != nil || n != 0 {
		t.Fatalf("Wake = %d, %v; want 0, nil", n, err)
	}
}

func TestWaitWake(t *testing.T) {
	var w uint32
	done := make(chan error, 1)
	go func() {
		for atomic.LoadUint32(&w) == 0 {
			if err := futex.Wait(&w, 0, time.Second); err != nil && err != unix.EAGAIN && err != unix.EINTR {
				done <- err
				return
			}
		}
		done <- nil
	}()
	time.Sleep(10 * time.Millisecond)
	atomic.StoreUint32(&w, 1)
	if _, err := futex.Wake(&w, 1); err != nil {
		skipENOSYS(t, err)
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken")
	}
}

// A waiter sleeps while the word holds the value it expects; the writer changes the
// word, then wakes.
func Example() {
	var word uint32
	woke := make(chan struct{})
	go func() {
		for atomic.LoadUint32(&word) == 0 {
			futex.Wait(&word, 0, 100*time.Millisecond) // spurious returns are fine: re-check
		}
		close(woke)
	}()
	atomic.StoreUint32(&word, 1)
	futex.Wake(&word, 1)
	<-woke
	fmt.Println("word is", atomic.LoadUint32(&word))
	// Output: word is 1
}
