package pickle

import (
	"bytes"
	"fmt"
	"testing"
)

// The benchmark values; bench/pickle_bench.py builds the same in Python.
// Each benchmark builds only its own value, so that the garbage collector
// of one does not also mark the values of the others.
var benchNames = []string{"SmallTuple", "Bytes1MiB", "Dict10000"}

func benchValue(name string) any {
	switch name {
	case "SmallTuple":
		return Tuple{int64(1), int64(2), "abc", "defg", int64(300)}
	case "Bytes1MiB":
		return bytes.Repeat([]byte{'x'}, 1<<20)
	}
	dict := NewDict(10000)
	for i := range 10000 {
		dict.Set(fmt.Sprint(i), int64(i))
	}
	return dict
}

func BenchmarkEncode(b *testing.B) {
	for _, name := range benchNames {
		b.Run(name, func(b *testing.B) {
			v := benchValue(name)
			data, _ := Marshal(v)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) { benchDecode(b, nil) }

// BenchmarkDecodeAlias is BenchmarkDecode with DecoderOptions.AliasInput:
// bytes values are slices of the input, not copies.
func BenchmarkDecodeAlias(b *testing.B) { benchDecode(b, &DecoderOptions{AliasInput: true}) }

func benchDecode(b *testing.B, opts *DecoderOptions) {
	for _, name := range benchNames {
		b.Run(name, func(b *testing.B) {
			data, _ := Marshal(benchValue(name))
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

// BenchmarkMemcpy1MiB is the floor for decoding the 1 MiB bytes value with a
// copy: a fresh 1 MiB allocation, filled by one copy as the decoder does, and
// dropped as BenchmarkDecode drops its value.
func BenchmarkMemcpy1MiB(b *testing.B) {
	src := bytes.Repeat([]byte{'x'}, 1<<20)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if dst := append([]byte{}, src...); len(dst) != len(src) {
			b.Fatal("short copy")
		}
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
