package gompxcore

import (
	"encoding/binary"
	"unsafe"
)

// pyMemory views n bytes of Python-owned memory at addr (a bytes object's data, a
// bytearray, a mmap). The caller guarantees the memory stays alive and unmoved for the
// duration of the call; Go must not keep the slice after returning.
//
// The conversion goes through a pointer-to-uintptr reinterpretation rather than
// unsafe.Pointer(addr) because addr is not Go memory: the garbage collector never sees it,
// and go vet's unsafeptr check (meant for Go heap pointers hidden in integers) stays quiet.
func pyMemory(addr uintptr, n int) []byte {
	if n <= 0 {
		return nil
	}
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*byte)(p), n)
}

// backToBack views count pieces of Python memory that lie back to back at data, their
// lengths count uint64 at lengths.
func backToBack(data, lengths uintptr, count int) [][]byte {
	lens := pyMemory(lengths, 8*count)
	out := make([][]byte, count)
	for i := range out {
		n := int(binary.LittleEndian.Uint64(lens[8*i:]))
		out[i] = pyMemory(data, n)
		data += uintptr(n)
	}
	return out
}

// putInt64s writes vals at out, in Python's memory, as little-endian int64s.
func putInt64s(out uintptr, vals ...int64) {
	mem := pyMemory(out, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(mem[8*i:], uint64(v))
	}
}
