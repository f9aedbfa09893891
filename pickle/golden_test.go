package pickle

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gompx/gompx/internal/testpython"
)

// goldens are pickles as CPython writes them: the Go value, the same value
// in Python, the protocol, the bytes, and the opcodes they spell.
var goldens = []struct {
	value any
	expr  string
	proto int
	hex   string
	ops   string
}{
	{nil, "None", 2, "80 02 4e 2e", "PROTO NONE STOP"},
	{true, "True", 5, "80 05 88 2e", "PROTO NEWTRUE STOP"},
	{7, "7", 4, "80 04 4b 07 2e", "PROTO BININT1 STOP (a 3-byte frame is not framed)"},
	{300, "300", 2, "80 02 4d 2c 01 2e", "PROTO BININT2 STOP"},
	{-1, "-1", 3, "80 03 4a ff ff ff ff 2e", "PROTO BININT STOP"},
	{int64(1) << 40, "2**40", 2, "80 02 8a 06 00 00 00 00 00 01 2e", "PROTO LONG1 STOP"},
	{1.5, "1.5", 2, "80 02 47 3f f8 00 00 00 00 00 00 2e", "PROTO BINFLOAT STOP"},
	{"abc", "'abc'", 2, "80 02 58 03 00 00 00 61 62 63 71 00 2e", "PROTO BINUNICODE BINPUT STOP"},
	{"abc", "'abc'", 4, "80 04 95 07 00 00 00 00 00 00 00 8c 03 61 62 63 94 2e", "PROTO FRAME SHORT_BINUNICODE MEMOIZE STOP"},
	{[]byte("ab"), "b'ab'", 3, "80 03 43 02 61 62 71 00 2e", "PROTO SHORT_BINBYTES BINPUT STOP"},
	{[]byte("ab"), "b'ab'", 2, "80 02 63 5f 63 6f 64 65 63 73 0a 65 6e 63 6f 64 65 0a 71 00 58 02 00 00 00 61 62 71 01 58 06 00 00 00 6c 61 74 69 6e 31 71 02 86 71 03 52 71 04 2e",
		"PROTO GLOBAL(_codecs encode) BINPUT BINUNICODE BINPUT BINUNICODE(latin1) BINPUT TUPLE2 BINPUT REDUCE BINPUT STOP"},
	{ByteArray("ab"), "bytearray(b'ab')", 5, "80 05 95 0d 00 00 00 00 00 00 00 96 02 00 00 00 00 00 00 00 61 62 94 2e", "PROTO FRAME BYTEARRAY8 MEMOIZE STOP"},
	{Tuple{}, "()", 4, "80 04 29 2e", "PROTO EMPTY_TUPLE STOP"},
	{Tuple{int64(1), int64(2)}, "(1, 2)", 2, "80 02 4b 01 4b 02 86 71 00 2e", "PROTO BININT1 BININT1 TUPLE2 BINPUT STOP"},
	{Tuple{int64(1), int64(2), int64(3), int64(4)}, "(1, 2, 3, 4)", 2, "80 02 28 4b 01 4b 02 4b 03 4b 04 74 71 00 2e", "PROTO MARK BININT1 x4 TUPLE BINPUT STOP"},
	{[]any{int64(1)}, "[1]", 2, "80 02 5d 71 00 4b 01 61 2e", "PROTO EMPTY_LIST BINPUT BININT1 APPEND STOP"},
	{[]any{int64(1), int64(2)}, "[1, 2]", 4, "80 04 95 09 00 00 00 00 00 00 00 5d 94 28 4b 01 4b 02 65 2e", "PROTO FRAME EMPTY_LIST MEMOIZE MARK BININT1 BININT1 APPENDS STOP"},
	{mustDict("a", int64(1)), "{'a': 1}", 2, "80 02 7d 71 00 58 01 00 00 00 61 71 01 4b 01 73 2e", "PROTO EMPTY_DICT BINPUT BINUNICODE BINPUT BININT1 SETITEM STOP"},
	{mustSet(int64(1), int64(2)), "{1, 2}", 4, "80 04 95 09 00 00 00 00 00 00 00 8f 94 28 4b 01 4b 02 90 2e", "PROTO FRAME EMPTY_SET MEMOIZE MARK BININT1 BININT1 ADDITEMS STOP"},
	{mustSet(int64(1), int64(2)), "{1, 2}", 2, "80 02 63 5f 5f 62 75 69 6c 74 69 6e 5f 5f 0a 73 65 74 0a 71 00 5d 71 01 28 4b 01 4b 02 65 85 71 02 52 71 03 2e",
		"PROTO GLOBAL(__builtin__ set) BINPUT EMPTY_LIST BINPUT MARK BININT1 BININT1 APPENDS TUPLE1 BINPUT REDUCE BINPUT STOP"},
	{mustFrozenSet(int64(1)), "frozenset({1})", 5, "80 05 95 06 00 00 00 00 00 00 00 28 4b 01 91 94 2e", "PROTO FRAME MARK BININT1 FROZENSET MEMOIZE STOP"},
	{complex(1, 2), "1+2j", 3, "80 03 63 62 75 69 6c 74 69 6e 73 0a 63 6f 6d 70 6c 65 78 0a 71 00 47 3f f0 00 00 00 00 00 00 47 40 00 00 00 00 00 00 00 86 71 01 52 71 02 2e",
		"PROTO GLOBAL(builtins complex) BINPUT BINFLOAT BINFLOAT TUPLE2 BINPUT REDUCE BINPUT STOP"},
	{&Object{Class: Class{"builtins", "ValueError"}, Args: Tuple{"boom"}}, "ValueError('boom')", 5,
		"80 05 95 26 00 00 00 00 00 00 00 8c 08 62 75 69 6c 74 69 6e 73 94 8c 0a 56 61 6c 75 65 45 72 72 6f 72 94 93 94 8c 04 62 6f 6f 6d 94 85 94 52 94 2e",
		"PROTO FRAME SHORT_BINUNICODE(builtins) MEMOIZE SHORT_BINUNICODE(ValueError) MEMOIZE STACK_GLOBAL MEMOIZE SHORT_BINUNICODE(boom) MEMOIZE TUPLE1 MEMOIZE REDUCE MEMOIZE STOP"},
	{&Object{Class: Class{"builtins", "ValueError"}, Args: Tuple{"boom"}}, "ValueError('boom')", 2,
		"80 02 63 65 78 63 65 70 74 69 6f 6e 73 0a 56 61 6c 75 65 45 72 72 6f 72 0a 71 00 58 04 00 00 00 62 6f 6f 6d 71 01 85 71 02 52 71 03 2e",
		"PROTO GLOBAL(exceptions ValueError) BINPUT BINUNICODE BINPUT TUPLE1 BINPUT REDUCE BINPUT STOP"},
}

func goldenBytes(t testing.TB, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldens(t *testing.T) {
	for _, g := range goldens {
		name := fmt.Sprintf("%s@%d", g.expr, g.proto)
		want := goldenBytes(t, g.hex)
		got, err := MarshalProtocol(g.value, g.proto)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s (%s):\n got  % x\n want % x", name, g.ops, got, want)
		}
		v, err := Unmarshal(want)
		if err != nil {
			t.Errorf("%s: Unmarshal: %v", name, err)
		} else if describe(v) != describe(g.value) {
			t.Errorf("%s: Unmarshal gives %s, want %s", name, describe(v), describe(g.value))
		}
		v, err = NewDecoder(iotest.OneByteReader(bytes.NewReader(want)), nil).Decode()
		if err != nil || describe(v) != describe(g.value) {
			t.Errorf("%s: Decoder one byte at a time: %v, %v", name, describe(v), err)
		}
	}
}

// TestGoldensLive checks the golden bytes against each CPython found.
func TestGoldensLive(t *testing.T) {
	var req pyRequest
	for i, g := range goldens {
		req.Cases = append(req.Cases, pyCase{fmt.Sprint(i), g.expr})
	}
	for _, py := range testpython.Stock(t) {
		reply := runPython(t, py, req)
		for i, g := range goldens {
			if got := reply.Cases[i].Pickles[g.proto]; got != strings.ReplaceAll(g.hex, " ", "") {
				t.Errorf("%s: CPython %s writes %s at protocol %d, golden says %s", g.expr, reply.Version, got, g.proto, g.hex)
			}
		}
	}
}

// TestGoldenTruncations cuts every golden at every length: each cut reports
// unexpected EOF, from a slice and from a stream; no suffix panics.
func TestGoldenTruncations(t *testing.T) {
	for _, g := range goldens {
		data := goldenBytes(t, g.hex)
		for n := range len(data) {
			_, err := Unmarshal(data[:n])
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s@%d cut to %d bytes: %v, want unexpected EOF", g.expr, g.proto, n, err)
			}
			_, err = NewDecoder(bytes.NewReader(data[:n]), nil).Decode()
			if n > 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s@%d streamed, cut to %d bytes: %v, want unexpected EOF", g.expr, g.proto, n, err)
			}
			if n == 0 && err != io.EOF {
				t.Errorf("%s@%d: empty stream gives %v, want io.EOF", g.expr, g.proto, err)
			}
			Unmarshal(data[n:]) // must not panic
		}
	}
}

// cutWriter accepts n bytes, then fails.
type cutWriter struct{ n int }

var errCut = errors.New("writer cut short")

func (w *cutWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errCut
	}
	w.n -= len(p)
	return len(p), nil
}

// TestGoldenShortWriter checks that every writer cut short surfaces its
// error from Encode.
func TestGoldenShortWriter(t *testing.T) {
	values := []any{strings.Repeat("x", 100000), intRange(30000)}
	for _, g := range goldens {
		values = append(values, g.value)
	}
	for _, v := range values {
		full, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, len(full) / 2, len(full) - 1} {
			enc, err := NewEncoder(&cutWriter{n: n}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := enc.Encode(v); !errors.Is(err, errCut) {
				t.Errorf("%.40s: writer cut at %d of %d bytes: Encode returned %v", describe(v), n, len(full), err)
			}
		}
		var buf bytes.Buffer
		enc, _ := NewEncoder(&buf, nil)
		if err := enc.Encode(v); err != nil || !bytes.Equal(buf.Bytes(), full) {
			t.Errorf("%.40s: Encoder output differs from Marshal (%v)", describe(v), err)
		}
	}
}
