package gompxcore

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/gompx/gompx/pickle"
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

// list1000 is what put_many(list(range(1000))) hands the facade: one pickle of the whole
// list, protocol 5, made here so the benchmark needs no file from outside the repository.
func list1000(tb testing.TB) ([]any, []byte) {
	items := make([]any, 1000)
	for i := range items {
		items[i] = int64(i)
	}
	data, err := pickle.MarshalProtocol(items, 5)
	if err != nil {
		tb.Fatal(err)
	}
	return items, data
}

// putGetBatch puts data's items with QueuePutList and takes them back with QueueGetMany;
// it returns the joined pickle of the list QueueGetMany made.
func putGetBatch(tb testing.TB, h int64, data, buf, lens []byte) []byte {
	if n, err := QueuePutList(h, uintptr(unsafe.Pointer(&data[0])), len(data), -1); err != nil || n != 1000 {
		tb.Fatalf("QueuePutList = %d, %v; want 1000 items", n, err)
	}
	r, err := QueueGetMany(h, uintptr(unsafe.Pointer(&buf[0])), len(buf), uintptr(unsafe.Pointer(&lens[0])), 1000, 0)
	if err != nil || r&^QueueSpliced != 1000 || r&QueueSpliced == 0 {
		tb.Fatalf("QueueGetMany = %#x, %v; want 1000 items joined into one pickle", r, err)
	}
	return buf
}

func TestQueueBatchRoundTrip(t *testing.T) {
	items, data := list1000(t)
	h, err := QueueNew(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer QueueDrop(h)
	joined := putGetBatch(t, h, data, make([]byte, 256<<10), make([]byte, 8*1000))
	got, err := pickle.Unmarshal(joined) // bytes past the pickle's STOP are ignored
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, items) {
		t.Fatalf("got %v back, not the 1000 items put", got)
	}
}

func BenchmarkQueueBatch1000(b *testing.B) {
	_, data := list1000(b)
	h, err := QueueNew(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer QueueDrop(h)
	buf := make([]byte, 256<<10)
	lens := make([]byte, 8*1000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		putGetBatch(b, h, data, buf, lens)
	}
}
