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

// BenchmarkDecodeAlias is BenchmarkDecode with DecoderOptions.AliasInput:
// bytes values are slices of the input, not copies.
func BenchmarkDecodeAlias(b *testing.B) {
	opts := &DecoderOptions{AliasInput: true}
	for _, bv := range benchValues() {
		b.Run(bv.name, func(b *testing.B) {
			data, _ := Marshal(bv.v)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := UnmarshalOptions(data, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var sink []byte

// BenchmarkMemcpy1MiB is the floor for decoding the 1 MiB bytes value with a
// copy: a fresh 1 MiB allocation, filled by one copy, as the decoder does.
func BenchmarkMemcpy1MiB(b *testing.B) {
	src := bytes.Repeat([]byte{'x'}, 1<<20)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		sink = append([]byte{}, src...)
	}
}

// BenchmarkCopy1MiB is the bare memory bandwidth: 1 MiB copied into the same
// warm buffer each time, with no allocation.
func BenchmarkCopy1MiB(b *testing.B) {
	src := bytes.Repeat([]byte{'x'}, 1<<20)
	dst := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		copy(dst, src)
	}
}
