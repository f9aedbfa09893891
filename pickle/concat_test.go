package pickle

import (
	"bytes"
	"os/exec"
	"reflect"
	"testing"
)

func TestConcatList(t *testing.T) {
	item := func(v any) []byte {
		b, err := MarshalProtocol(v, 5)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		items [][]byte
		ok    bool
	}{
		{"ints and strs", [][]byte{item(int64(1)), item("two"), item(3.5), item(nil)}, true},
		{"containers", [][]byte{item([]any{int64(1), "x"}), item(Tuple{true, []byte("b")})}, true},
		{"a memo read", [][]byte{item(int64(1)), {0x80, 5, 0x8c, 1, 'a', 0x94, 'h', 0, 0x86, '.'}}, false},
		{"no STOP", [][]byte{{0x80, 5, 'K', 1}}, false},
		{"trailing bytes", [][]byte{{0x80, 5, 'K', 1, '.', '.'}}, false},
		{"bad opcode", [][]byte{{0x80, 5, 0xff, '.'}}, false},
		{"truncated argument", [][]byte{{0x80, 5, 'J', 1, 2}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ConcatList(nil, tt.items)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			v, err := Unmarshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var want []any
			for _, it := range tt.items {
				w, err := Unmarshal(it)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, w)
			}
			if !reflect.DeepEqual(v, want) {
				t.Fatalf("got %#v, want %#v", v, want)
			}
		})
	}
}

// TestConcatListCPython splices pickles CPython made (protocols 4 and 5, framed and
// large) and has CPython load the result. Protocols 2 and 3 memoize with explicit
// indices (BINPUT), which ConcatList refuses.
func TestConcatListCPython(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	const script = `
import pickle, sys
values = [1, -5, 2**70, 3.25, "héllo", b"by", None, True, (1, 2, 3), [1, [2]], {"a": 1},
          frozenset({1}), bytearray(b"ba"), "x" * 70000, complex(1, 2)]
out = sys.stdout.buffer
for proto in (4, 5):
    for v in values:
        p = pickle.dumps(v, proto)
        out.write(len(p).to_bytes(4, "little") + p)
`
	raw, err := exec.Command(python, "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	var items [][]byte
	for len(raw) > 0 {
		n := int(raw[0]) | int(raw[1])<<8 | int(raw[2])<<16 | int(raw[3])<<24
		items, raw = append(items, raw[4:4+n]), raw[4+n:]
	}
	spliced, ok := ConcatList(nil, items)
	if !ok {
		for i, it := range items {
			if _, ok := ConcatList(nil, [][]byte{it}); !ok {
				t.Errorf("item %d (%x...) does not splice", i, it[:min(len(it), 24)])
			}
		}
		t.Fatal("CPython's pickles of distinct values did not splice")
	}
	if _, ok := ConcatList(nil, [][]byte{{0x80, 2, 'K', 1, 'q', 0, '.'}}); ok {
		t.Fatal("a protocol 2 pickle with BINPUT spliced")
	}
	check := exec.Command(python, "-c", `
import pickle, sys
got = pickle.loads(sys.stdin.buffer.read())
values = [1, -5, 2**70, 3.25, "héllo", b"by", None, True, (1, 2, 3), [1, [2]], {"a": 1},
          frozenset({1}), bytearray(b"ba"), "x" * 70000, complex(1, 2)]
assert got == values * 2, got[:20]
print("ok")
`)
	check.Stdin = bytes.NewReader(spliced)
	out, err := check.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("ok")) {
		t.Fatalf("CPython could not load the spliced list: %v\n%s", err, out)
	}
}

func TestConcatInPlace(t *testing.T) {
	item := func(v any) []byte {
		b, err := MarshalProtocol(v, 5)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	memoRead := []byte{0x80, 5, 0x8c, 1, 'a', 0x94, 'h', 0, 0x86, '.'}
	many := [][]byte{item(int64(1)), item("two"), item(3.5), item(nil), item([]any{int64(7), "x"})}
	tests := []struct {
		name  string
		items [][]byte
		spare int // bytes of buf after the pickles
		ok    bool
	}{
		{"many fit", many, 0, true},
		{"one with room", many[:1], 8, true},
		{"one without room", many[:1], 0, false}, // the list adds more than PROTO and STOP save
		{"memo read", [][]byte{item(int64(1)), memoRead}, 64, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf []byte
			for _, it := range tt.items {
				buf = append(buf, it...)
			}
			buf = append(buf, make([]byte, tt.spare)...)
			before := bytes.Clone(buf)
			n, ok := ConcatInPlace(buf, len(tt.items), func(i int) int { return len(tt.items[i]) })
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				if !bytes.Equal(buf, before) {
					t.Fatal("buf changed although nothing was joined")
				}
				return
			}
			want, _ := ConcatList(nil, tt.items)
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("joined % x, want % x", buf[:n], want)
			}
		})
	}
	t.Run("sizes past buf", func(t *testing.T) {
		buf := append([]byte(nil), many[0]...)
		if _, ok := ConcatInPlace(buf, 2, func(int) int { return len(many[0]) }); ok {
			t.Fatal("joined pickles that are not in buf")
		}
	})
}
