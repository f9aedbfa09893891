package pickle

import (
	"bytes"
	"fmt"
	"testing"
)

// The benchmark values; bench/pickle_bench.py builds the same in Python.
func benchValues() []struct {
	name string
	v    any
} {
	dict := NewDict(10000)
	for i := range 10000 {
		dict.Set(fmt.Sprint(i), int64(i))
	}
	return []struct {
		name string
		v    any
	}{
		{"SmallTuple", Tuple{int64(1), int64(2), "abc", "defg", int64(300)}},
		{"Bytes1MiB", bytes.Repeat([]byte{'x'}, 1<<20)},
		{"Dict10000", dict},
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, bv := range benchValues() {
		b.Run(bv.name, func(b *testing.B) {
			data, _ := Marshal(bv.v)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Marshal(bv.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bv := range benchValues() {
		b.Run(bv.name, func(b *testing.B) {
			data, _ := Marshal(bv.v)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Unmarshal(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemcpy1MiB is the floor for the 1 MiB bytes value: one copy.
func BenchmarkMemcpy1MiB(b *testing.B) {
	src := bytes.Repeat([]byte{'x'}, 1<<20)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		dst := make([]byte, len(src))
		copy(dst, src)
	}
}
