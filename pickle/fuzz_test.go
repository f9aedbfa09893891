package pickle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gompx/gompx/internal/testpython"
)

// FuzzUnmarshal checks that no input panics, and that whatever decodes
// encodes again and decodes to the same structure.
//
// Seeds: the goldens, plus testdata/fuzz/FuzzUnmarshal, CPython's pickles
// of the cross cases at protocols 0-5 (written by TestWriteFuzzSeeds).
func FuzzUnmarshal(f *testing.F) {
	for _, g := range goldens {
		f.Add(goldenBytes(f, g.hex))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unmarshal(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is not a *DecodeError: %v", err)
			}
			return
		}
		if !describable(v) {
			// A small pickle can share a tuple 2^40 times; describing it in full would
			// never end (the decoder itself takes microseconds).
			return
		}
		if a, err := UnmarshalOptions(data, &DecoderOptions{AliasInput: true}); err != nil || describe(a) != describe(v) {
			t.Fatalf("AliasInput decodes differently: %v\n %s\n %s", err, describe(v), describe(a))
		}
		out, err := Marshal(v)
		if err != nil {
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("re-encoding: %v", err)
			}
			return // e.g. a class name with a newline in it
		}
		back, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("our own pickle %q does not decode: %v", out, err)
		}
		if describe(back) != describe(v) {
			t.Fatalf("round trip changed the value:\n %s\n %s", describe(v), describe(back))
		}
	})
}

// TestWriteFuzzSeeds rewrites testdata/fuzz/FuzzUnmarshal from the first
// CPython found, when GOMPX_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("GOMPX_WRITE_SEEDS") != "1" {
		t.Skip("set GOMPX_WRITE_SEEDS=1 to rewrite the fuzz seed corpus")
	}
	var req pyRequest
	for _, c := range crossCases() {
		if !bigCase[c.name] {
			req.Cases = append(req.Cases, pyCase{c.name, c.expr})
		}
	}
	req.Pickletester = false
	reply := runPython(t, testpython.Stock(t)[0], req)
	dir := filepath.Join("testdata", "fuzz", "FuzzUnmarshal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range reply.Cases {
		for p, h := range c.Pickles {
			var b bytes.Buffer
			fmt.Fprintf(&b, "go test fuzz v1\n[]byte(%q)\n", unhex(t, h))
			name := filepath.Join(dir, fmt.Sprintf("cpython-%s-p%d", c.Name, p))
			if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// bigCase are the cross cases too large to be useful fuzz seeds.
var bigCase = map[string]bool{
	"list-2500": true, "list-30000": true, "dict-1000": true, "dict-10000": true,
	"set-1500": true, "str-70000": true, "bytes-70000": true, "big2^2048": true,
}
