package frame_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/gompx/gompx/gompx/internal/frame"
)

// golden is the header table: length, kind, the exact bytes, and what they are.
var golden = []struct {
	n    int64
	kind frame.Kind
	hex  string
	note string
}{
	{0, frame.Inline, "00000000", "empty message"},
	{1, frame.Inline, "00000001", "one byte"},
	{16384, frame.Inline, "00004000", "CPython's join-or-not boundary: same header"},
	{0x7fffffff, frame.Inline, "7fffffff", "largest short form"},
	{0x80000000, frame.Inline, "ffffffff" + "0000000080000000", "-1 then uint64: smallest long form"},
	{1 << 40, frame.Inline, "ffffffff" + "0000010000000000", "long form, 1 TiB"},
	{0, frame.InRing, "fffffffe" + "0000000000000000", "ring marker, empty"},
	{128 << 10, frame.InRing, "fffffffe" + "0000000000020000", "ring marker, 128 KiB"},
	{0x80000000, frame.InRing, "fffffffe" + "0000000080000000", "ring marker above 2 GiB"},
}

func TestGoldenPut(t *testing.T) {
	for _, g := range golden {
		var h frame.Header
		if got := hex.EncodeToString(h.Put(g.n, g.kind)); got != g.hex {
			t.Errorf("%s: Put(%d, %d) = %s, want %s", g.note, g.n, g.kind, got, g.hex)
		}
	}
}

func TestGoldenRead(t *testing.T) {
	for _, g := range golden {
		b, _ := hex.DecodeString(g.hex)
		n, k, err := frame.ReadHeader(bytes.NewReader(b))
		if err != nil || n != g.n || k != g.kind {
			t.Errorf("%s: ReadHeader(%s) = %d, %d, %v; want %d, %d", g.note, g.hex, n, k, err, g.n, g.kind)
		}
	}
}

func TestGoldenTruncated(t *testing.T) {
	for _, g := range golden {
		b, _ := hex.DecodeString(g.hex)
		for cut := 0; cut < len(b); cut++ {
			_, _, err := frame.ReadHeader(bytes.NewReader(b[:cut]))
			want := io.ErrUnexpectedEOF
			if cut == 0 {
				want = io.EOF
			}
			if err != want {
				t.Errorf("%s cut at %d: err = %v, want %v", g.note, cut, err, want)
			}
		}
	}
}

func TestBadLength(t *testing.T) {
	for _, h := range []string{
		"fffffffd",                      // -3: no such prefix
		"80000000",                      // MinInt32
		"ffffffff" + "8000000000000000", // long form above MaxInt64
		"fffffffe" + "ffffffffffffffff", // ring form above MaxInt64
	} {
		b, _ := hex.DecodeString(h)
		if _, _, err := frame.ReadHeader(bytes.NewReader(b)); !errors.Is(err, frame.ErrBadLength) {
			t.Errorf("ReadHeader(%s) err = %v, want ErrBadLength", h, err)
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	for _, g := range golden {
		b, _ := hex.DecodeString(g.hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, k, err := frame.ReadHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		var h frame.Header
		enc := h.Put(n, k)
		if k == frame.Inline && len(b) >= 12 && bytes.Equal(b[:4], []byte{0xff, 0xff, 0xff, 0xff}) {
			return // a long form for a short length re-encodes short: both are valid
		}
		if !bytes.HasPrefix(b, enc) {
			t.Fatalf("decode %x -> (%d, %d) -> encode %x", b, n, k, enc)
		}
	})
}

func Example() {
	var h frame.Header
	fmt.Printf("%x\n", h.Put(5, frame.Inline))
	fmt.Printf("%x\n", h.Put(3<<30, frame.Inline))
	n, k, _ := frame.ReadHeader(bytes.NewReader(h.Put(3<<30, frame.Inline)))
	fmt.Println(n, k == frame.Inline)
	// Output:
	// 00000005
	// ffffffff00000000c0000000
	// 3221225472 true
}
