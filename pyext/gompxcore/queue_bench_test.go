package gompxcore

import (
	"testing"
	"unsafe"
)

func BenchmarkQueuePutGet(b *testing.B) {
	h, err := QueueNew(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer QueueDrop(h)
	msg := make([]byte, 12)
	buf := make([]byte, 1<<14)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := QueuePut(h, uintptr(unsafe.Pointer(&msg[0])), len(msg), 0, -1); err != nil {
			b.Fatal(err)
		}
		if _, err := QueueGet(h, uintptr(unsafe.Pointer(&buf[0])), len(buf), 0); err != nil {
			b.Fatal(err)
		}
	}
}
