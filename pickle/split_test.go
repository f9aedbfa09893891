package pickle

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSplitListCPython has CPython pickle lists, splits them, and has CPython load each
// item and compare it with the original.
func TestSplitListCPython(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	cases := []struct {
		expr  string
		split bool
	}{
		{"[]", true},
		{"[7]", true},
		{"list(range(2500))", true},
		{"[1.5, 'a', b'b', None, True, 2**100, -3]", true},
		{"[(1, 2), (3, (4, 5)), [6, [7]], {'k': 1}, {'j': [2]}, frozenset({9}), set(), ()]", true},
		{"[bytearray(b'x'), complex(1, 2), 'x' * 100000, b'y' * 70000]", true},
		{"[str(i) for i in range(3000)]", true},
		{"[{'same': i} for i in range(3)]", false}, // the key is one str object: memo reads
		{"[1, 2, 3][0]", false},                    // not a list
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			p, err := exec.Command(python, "-c", "import pickle, sys; sys.stdout.buffer.write(pickle.dumps("+c.expr+", 5))").Output()
			if err != nil {
				t.Fatal(err)
			}
			items, ok := SplitList(p)
			if ok != c.split {
				t.Fatalf("split = %v, want %v", ok, c.split)
			}
			if !ok {
				return
			}
			var hexes []string
			for _, it := range items {
				hexes = append(hexes, hexOf(it))
			}
			script := "import pickle, sys\nv = " + c.expr + "\n" +
				"items = [bytes.fromhex(h) for h in sys.stdin.read().split()]\n" +
				"assert len(items) == len(v), (len(items), len(v))\n" +
				"for i, p in enumerate(items):\n    assert pickle.loads(p) == v[i], (i, pickle.loads(p), v[i])\nprint('ok')\n"
			cmd := exec.Command(python, "-c", script)
			cmd.Stdin = strings.NewReader(strings.Join(hexes, " ") + " ")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ok") {
				t.Fatalf("CPython disagrees: %v\n%s", err, out)
			}
		})
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func TestSplitListRefuses(t *testing.T) {
	for _, p := range [][]byte{
		nil,
		{0x80, 5, ']', 0x94},                // no STOP
		{0x80, 5, 'K', 1, '.'},              // not a list
		{0x80, 5, ']', '(', 'K', 1, 'e'},    // no STOP after APPENDS
		{0x80, 5, ']', 'K', 1, 'a', '.', 0}, // trailing byte
		{0x80, 5, ']', 'h', 0, 'a', '.'},    // a memo read
		{0x80, 5, ']', '(', 'K', 1, 0xff},   // no such opcode
		{0x80, 5, 'e', '.'},                 // APPENDS with no mark
	} {
		if _, ok := SplitList(p); ok {
			t.Errorf("SplitList(%x) split", p)
		}
	}
}

func FuzzSplitList(f *testing.F) {
	f.Add([]byte{0x80, 5, ']', 0x94, '(', 'K', 1, 'K', 2, 'e', '.'})
	f.Fuzz(func(t *testing.T, p []byte) {
		items, ok := SplitList(p)
		if !ok {
			return
		}
		// Whatever splits must decode item by item as the whole list decodes.
		whole, err := Unmarshal(p)
		if err != nil {
			return // valid opcodes need not be a valid pickle
		}
		list, isList := whole.([]any)
		if !isList || len(list) != len(items) {
			t.Fatalf("split %d items from %#v", len(items), whole)
		}
		for _, it := range items {
			if _, err := Unmarshal(it); err != nil {
				t.Fatalf("item %x does not decode: %v", it, err)
			}
		}
	})
}
