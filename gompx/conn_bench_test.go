//go:build linux

package gompx

import (
	"fmt"
	"testing"
)

// BenchmarkPipeRoundTripSmall: a 16-byte message to an echo and back, with the echo
// in a goroutine (inproc) or in a child process (process). Stdlib multiprocessing.Pipe
// does the same round trip with ~2 system calls per side.
func BenchmarkPipeRoundTripSmall(b *testing.B) {
	msg := make([]byte, 16)
	for _, where := range []string{"inproc", "process"} {
		b.Run(where, func(b *testing.B) {
			a, other := benchPipe(b, where, "conn-echo")
			if other != nil {
				go func() {
					for {
						m, err := other.RecvBytes(0)
						if err != nil || other.SendBytes(m) != nil {
							return
						}
					}
				}()
			}
			for b.Loop() {
				if err := a.SendBytes(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := a.RecvBytes(0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPipeSendBytes1MiB: 1 MiB messages one way, to a receiver in a goroutine or
// a child process that receives into one reused buffer (RecvHeader + RecvPayload, the
// facade's zero-copy path); ns/op is the time per MiB. Sizes other than 1 MiB are
// there to place the ring threshold.
func BenchmarkPipeSendBytes1MiB(b *testing.B) {
	for _, where := range []string{"inproc", "process"} {
		b.Run(where, func(b *testing.B) { benchOneWay(b, where, 1<<20) })
	}
}

// BenchmarkPipeThreshold compares the socket and the ring for one-way messages of
// several sizes between two processes, to place ringThreshold.
func BenchmarkPipeThreshold(b *testing.B) {
	defer func(t int) { ringThreshold = t }(ringThreshold)
	for _, size := range []int{32 << 10, 64 << 10, 128 << 10, 256 << 10, 1 << 20, 4 << 20} {
		for _, path := range []string{"socket", "ring"} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, path), func(b *testing.B) {
				ringThreshold = size + 1 // the sender alone decides
				if path == "ring" {
					ringThreshold = size
				}
				benchOneWay(b, "process", size)
			})
		}
	}
}

func benchOneWay(b *testing.B, where string, size int) {
	a, other := benchPipe(b, where, "conn-sink")
	if other != nil {
		go func() {
			buf := make([]byte, size)
			for {
				n, err := other.RecvHeader(-1)
				if err != nil || other.RecvPayload(buf[:n]) != nil {
					return
				}
				if n == 0 {
					other.SendBytes([]byte("ok"))
				}
			}
		}()
	}
	msg := make([]byte, size)
	b.SetBytes(int64(size))
	for b.Loop() {
		if err := a.SendBytes(msg); err != nil {
			b.Fatal(err)
		}
	}
	a.SendBytes(nil) // the far end answers once it has everything
	if _, err := a.RecvBytes(0); err != nil {
		b.Fatal(err)
	}
}

// benchPipe returns the near end of a peer-mode pipe, and the far end for the caller
// to serve in a goroutine (inproc) or nil when a child process serves it (process).
func benchPipe(b *testing.B, where, scenario string) (near, far *Conn) {
	b.Helper()
	near, far, err := Pipe(true)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { near.Close() })
	if where == "process" {
		startConnChild(b, scenario, far)
		return near, nil
	}
	return near, far
}

// BenchmarkPipeRingSize measures 1 MiB one-way messages between two processes for
// several ring sizes (cache residency against room for both sides to copy at once).
func BenchmarkPipeRingSize(b *testing.B) {
	defer func(s int) { ringSize = s }(ringSize)
	for _, size := range []int{256 << 10, 1 << 20, 2 << 20, 4 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("ring%dKiB", size>>10), func(b *testing.B) {
			ringSize = size
			benchOneWay(b, "process", 1<<20)
		})
	}
}
