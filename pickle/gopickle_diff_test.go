package pickle

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gompx/gompx/internal/testpython"
)

// The differential check: github.com/nlpodyssey/gopickle is the reference
// decoder. Wherever it decodes a pickle without error, our decoder must give
// the same value, or the difference must be one of gopickleDisagreements.
// gopickle is not run on pickles whose length fields claim more than the
// input holds (it would allocate the claim first), and its panics count as
// "cannot decode".

// gpCase is one pickle decoded both ways.
type gpCase struct {
	data    []byte
	scan    gpScan
	ours    any
	oursErr error
	theirs  any // converted to our types
	convErr error
}

// oursFailedAt reports whether our decoder refused the pickle at one of ops.
func (c *gpCase) oursFailedAt(ops ...string) bool {
	var de *DecodeError
	if !errors.As(c.oursErr, &de) {
		return false
	}
	for _, op := range ops {
		if de.Op == op {
			return true
		}
	}
	return false
}

// oursDesc describes our value, or is empty if we failed.
func (c *gpCase) oursDesc() string {
	if c.oursErr != nil {
		return ""
	}
	return describe(c.ours)
}

func (c *gpCase) oursErrSays(text string) bool {
	return c.oursErr != nil && strings.Contains(c.oursErr.Error(), text)
}

// argHas reports whether an op's argument has a byte that pred accepts.
func (c *gpCase) argHas(op byte, pred func(byte) bool) bool {
	for _, o := range c.scan.ops {
		if o.op != op {
			continue
		}
		for _, b := range o.arg {
			if pred(b) {
				return true
			}
		}
	}
	return false
}

// gopickleDisagreements are the known, accepted differences, each with the
// side whose behaviour is wrong by Python's standard and why. A difference
// that none of them explains fails the test.
var gopickleDisagreements = []struct {
	name    string
	reason  string
	applies func(c *gpCase) bool
}{
	{
		"duplicate-keys",
		"gopickle: its Dict is a slice that appends on every SETITEM, and its sets and OrderedDict " +
			"are Go maps comparing keys by Go ==, so a repeated key, 1 and 1.0 and True, or two equal " +
			"tuples stay separate; Python keeps one key (the last value), as we do",
		func(c *gpCase) bool { return errors.Is(c.convErr, errGPDupKey) },
	},
	{
		"unhashable-keys",
		"gopickle: it accepts a list, dict, set or bytearray as a dict key or set member (its Dict " +
			"never hashes, its sets hash Go pointers); Python raises TypeError: unhashable type, as we do",
		func(c *gpCase) bool {
			return errors.Is(c.convErr, errGPUnhashKey) || c.oursErrSays("unhashable type")
		},
	},
	{
		"missing-memo",
		"gopickle: a GET of a memo index never PUT pushes nil, a Go map's zero value; Python raises, as we do",
		func(c *gpCase) bool {
			return c.oursFailedAt("GET", "BINGET", "LONG_BINGET") && c.scan.getsUnset()
		},
	},
	{
		"string-escapes",
		"gopickle: STRING (a protocol 0 Python 2 str) keeps the backslash escapes of the quoted text; " +
			"Python decodes them (string-escape), as we do",
		func(c *gpCase) bool { return c.argHas(opSTRING, func(b byte) bool { return b == '\\' }) },
	},
	{
		"unicode-escapes",
		"gopickle: UNICODE (a protocol 0 str) is raw-unicode-escape text, which it does not decode: " +
			"\\uXXXX escapes stay as written and Latin-1 bytes stay raw; Python decodes them, as we do",
		func(c *gpCase) bool {
			return c.argHas(opUNICODE, func(b byte) bool { return b == '\\' || b >= 0x80 })
		},
	},
	{
		"text-nan",
		"gopickle: FLOAT nan is strconv's NaN, bits 0x7ff8000000000001; Python's float('nan') is " +
			"0x7ff8000000000000, which we give so that it encodes back to CPython's bytes",
		func(c *gpCase) bool {
			for _, o := range c.scan.ops {
				if o.op == opFLOAT {
					if f, err := strconv.ParseFloat(strings.TrimSpace(string(o.arg)), 64); err == nil && math.IsNaN(f) {
						return true
					}
				}
			}
			return false
		},
	},
	{
		"build-on-non-instance",
		"ours, by design: BUILD on a value that is no class instance (a list, an int, a set...) with a " +
			"state that is not a dict: gopickle, like CPython for a None state, does nothing; we refuse, " +
			"since there is no instance to record the state on",
		func(c *gpCase) bool { return c.oursFailedAt("BUILD") },
	},
	{
		"readonly-buffer",
		"ours, by design: READONLY_BUFFER with no PickleBuffer on the stack: gopickle without a " +
			"MakeReadOnly hook skips the opcode whatever the stack holds; we require a buffer, which " +
			"only NEXT_BUFFER makes",
		func(c *gpCase) bool { return c.oursFailedAt("READONLY_BUFFER") },
	},
	{
		"newobj-ex-keywords",
		"reference limit: gopickle passes NEWOBJ_EX's keyword dict to PyNew as one more positional " +
			"argument, so its objects cannot be told from NEWOBJ's; we keep the keywords apart in Kwargs",
		func(c *gpCase) bool { return c.scan.has(opNEWOBJ_EX) },
	},
	{
		"gopickle-own-classes",
		"gopickle: it resolves copy_reg._reconstructor and __builtin__.object itself, before FindClass; " +
			"its _reconstructor calls base.__new__(cls) for any base and drops the state (CPython calls " +
			"base.__new__(cls, state) unless base is object), and its object.__new__(cls) makes a cls; we " +
			"recognise _reconstructor(cls, object, None), the form CPython writes, and keep other calls inert",
		func(c *gpCase) bool {
			d := c.oursDesc()
			return strings.Contains(d, "O(copyreg._reconstructor,") || strings.Contains(d, "O(copy_reg._reconstructor,") ||
				strings.Contains(d, "O(builtins.object,") || strings.Contains(d, "O(__builtin__.object,")
		},
	},
	{
		"limits",
		"ours, by design: nesting beyond 10000 levels, or tuple dict keys out of proportion to the " +
			"input, are refused; gopickle has no such limits",
		func(c *gpCase) bool {
			return errors.Is(c.oursErr, errTooDeep) || c.oursErrSays("out of proportion") ||
				c.oursErrSays("too large or too deeply nested")
		},
	},
}

// gpOutcome is how one pickle fared.
type gpOutcome string

const (
	gpAgree    gpOutcome = "agree"
	gpCannot   gpOutcome = "gopickle cannot decode"
	gpDeclined gpOutcome = "declined (a length beyond the input)"
	gpTooLarge gpOutcome = "too large to describe"
)

// maxDescribed bounds the items describe may print. describe prints a
// shared tuple in full each time, so DUP TUPLE2 repeated n times, a few
// bytes of input, is 2^n items: the fuzzer finds these.
const maxDescribed = 1 << 16

// describable reports whether describe(v) stays within maxDescribed items.
func describable(v any) bool {
	n := 0
	sizes := map[*any]int{}
	seen := map[any]bool{}
	var size func(v any) int
	size = func(v any) int {
		if n > maxDescribed {
			return 0
		}
		n++
		children := func(items []any) int {
			total := 1
			for _, e := range items {
				total += size(e)
			}
			return total
		}
		switch x := v.(type) {
		case Tuple:
			if len(x) == 0 {
				return 1
			}
			if s, ok := sizes[&x[0]]; ok {
				n += s
				return s
			}
			s := children(x)
			sizes[&x[0]] = s
			return s
		case []any:
			if len(x) == 0 || seen[&x[0]] {
				return 1
			}
			seen[&x[0]] = true
			return children(x)
		case *Dict, *Set, *FrozenSet, *Object:
			if seen[v] {
				return 1
			}
			seen[v] = true
			var items []any
			switch x := v.(type) {
			case *Dict:
				for _, it := range x.Items() {
					items = append(items, it.Key, it.Value)
				}
			case *Set:
				items = x.Items()
			case *FrozenSet:
				items = x.Items()
			case *Object:
				items = append([]any{x.Callable, x.Args, x.State, x.ListItems}, nil)
				if x.Kwargs != nil {
					items = append(items, x.Kwargs)
				}
				if x.DictItems != nil {
					items = append(items, x.DictItems)
				}
			}
			return children(items)
		}
		return 1
	}
	size(v)
	return n <= maxDescribed
}

// compareWithGopickle decodes data both ways. It returns the outcome, or the
// name of the known disagreement that explains a difference; an unexplained
// difference is an error.
func compareWithGopickle(data []byte) (gpOutcome, error) {
	c := gpCase{data: data, scan: scanForGopickle(data)}
	if !c.scan.safe {
		return gpDeclined, nil
	}
	raw, err := gopickleLoad(data, &c.scan)
	if err != nil {
		return gpCannot, nil
	}
	c.ours, c.oursErr = Unmarshal(data)
	proto := 0
	if len(c.scan.ops) > 0 && c.scan.ops[0].op == opPROTO {
		proto = int(c.scan.ops[0].arg[0])
	}
	conv := fromGopickle{proto: proto, seen: map[any]any{}}
	c.theirs, c.convErr = conv.conv(raw)
	if c.oursErr == nil && !describable(c.ours) {
		return gpTooLarge, nil
	}
	var ours, theirs string
	if c.oursErr == nil && c.convErr == nil {
		ours, theirs = describe(c.ours), describe(c.theirs)
		if ours == theirs {
			return gpAgree, nil
		}
	}
	for _, k := range gopickleDisagreements {
		if k.applies(&c) {
			return gpOutcome("known: " + k.name), nil
		}
	}
	switch {
	case c.oursErr != nil:
		return "", fmt.Errorf("gopickle decodes %q, we fail: %v", data, c.oursErr)
	case c.convErr != nil:
		return "", fmt.Errorf("gopickle's value of %q has no counterpart: %v", data, c.convErr)
	}
	return "", fmt.Errorf("%q decodes differently:\n ours     %s\n gopickle %s", data, short(ours), short(theirs))
}

// gpTally counts outcomes for the test log.
type gpTally map[gpOutcome]int

func (g gpTally) String() string {
	var parts []string
	for k, n := range g {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (g gpTally) check(t *testing.T, name string, data []byte) {
	t.Helper()
	out, err := compareWithGopickle(data)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	g[out]++
}

// TestAgainstGopickle runs the differential check over the goldens, the
// committed fuzz corpora, CPython's pickles of every cross case at
// protocols 0-5 from each interpreter found, and CPython's own test pickles.
func TestAgainstGopickle(t *testing.T) {
	t.Run("goldens", func(t *testing.T) {
		tally := gpTally{}
		for _, g := range goldens {
			tally.check(t, fmt.Sprintf("%s@%d", g.expr, g.proto), goldenBytes(t, g.hex))
		}
		t.Log(tally)
		if tally[gpAgree] != len(goldens) {
			t.Errorf("gopickle must decode every golden alike: %s", tally)
		}
	})
	t.Run("corpus", func(t *testing.T) {
		tally := gpTally{}
		for _, target := range []string{"FuzzUnmarshal", "FuzzAgainstGopickle"} {
			for name, data := range fuzzCorpus(t, target) {
				tally.check(t, name, data)
			}
		}
		t.Log(tally)
	})
	t.Run("cpython", func(t *testing.T) {
		var req pyRequest
		for _, c := range crossCases() {
			req.Cases = append(req.Cases, pyCase{c.name, c.expr})
		}
		req.Pickletester = true
		for _, py := range testpython.Stock(t) {
			reply := runPython(t, py, req)
			tally := gpTally{}
			for _, c := range reply.Cases {
				for p, h := range c.Pickles {
					tally.check(t, fmt.Sprintf("%s %s@%d", reply.Version, c.Name, p), unhex(t, h))
				}
			}
			for _, p := range reply.Pickletester {
				if p.Error == "" {
					tally.check(t, fmt.Sprintf("%s pickletester %s", reply.Version, p.Name), unhex(t, p.Hex))
				}
			}
			t.Logf("CPython %s: %s", reply.Version, tally)
		}
	})
}

// fuzzCorpus reads testdata/fuzz/<target>: files of one []byte value.
func fuzzCorpus(t testing.TB, target string) map[string][]byte {
	dir := filepath.Join("testdata", "fuzz", target)
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		text, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(text)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s/%s: not a one-[]byte corpus file", dir, e.Name())
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s/%s: %v", dir, e.Name(), err)
		}
		out[target+"/"+e.Name()] = []byte(s)
	}
	return out
}

// FuzzAgainstGopickle is the differential check on arbitrary input, seeded
// from the goldens and the FuzzUnmarshal corpus.
func FuzzAgainstGopickle(f *testing.F) {
	for _, g := range goldens {
		f.Add(goldenBytes(f, g.hex))
	}
	for _, data := range fuzzCorpus(f, "FuzzUnmarshal") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := compareWithGopickle(data); err != nil {
			t.Fatal(err)
		}
	})
}
