package gompxcore

import (
	"os"
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

func BenchmarkQueueBatch1000(b *testing.B) {
	data, err := os.ReadFile("/tmp/list1000.pkl")
	if err != nil {
		b.Skip(err)
	}
	h, err := QueueNew(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer QueueDrop(h)
	buf := make([]byte, 256<<10)
	lens := make([]byte, 8*1000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if n, err := QueuePutList(h, uintptr(unsafe.Pointer(&data[0])), len(data), -1); err != nil || n != 1000 {
			b.Fatal(n, err)
		}
		if r, err := QueueGetMany(h, uintptr(unsafe.Pointer(&buf[0])), len(buf), uintptr(unsafe.Pointer(&lens[0])), 1000, 0); err != nil || r&(QueueSpliced-1) != 1000 {
			b.Fatal(r, err)
		}
	}
}
