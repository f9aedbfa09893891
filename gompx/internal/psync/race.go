//go:build race

package psync

import (
	"runtime"
	"sync"
	"unsafe"
)

// The race detector sees no happens-before edge in atomics on memory it does not manage
// (a shared mapping), and ignores annotations on such addresses, so Go code that guards
// its own variables with these primitives would get false reports. These annotations
// give it the edges on a Go-heap stand-in for each word: a release before a word lets
// others through, an acquire after passing it. Only goroutines of one process can race
// with each other, and in one process a word has one address.

var raceProxies sync.Map // word address -> *byte on the Go heap

func raceProxy(w *uint32) unsafe.Pointer {
	p, ok := raceProxies.Load(uintptr(unsafe.Pointer(w)))
	if !ok {
		p, _ = raceProxies.LoadOrStore(uintptr(unsafe.Pointer(w)), new(byte))
	}
	return unsafe.Pointer(p.(*byte))
}

func raceAcquire(w *uint32) { runtime.RaceAcquire(raceProxy(w)) }

func raceRelease(w *uint32) { runtime.RaceReleaseMerge(raceProxy(w)) }
