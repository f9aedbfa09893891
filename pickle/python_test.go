package pickle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/gompx/gompx/internal/testpython"
)

type pyRequest struct {
	Cases        []pyCase `json:"cases,omitempty"`
	Load         []pyLoad `json:"load,omitempty"`
	Pickletester bool     `json:"pickletester,omitempty"`
}

type pyCase struct {
	Name string `json:"name"`
	Expr string `json:"expr"`
}

type pyLoad struct {
	Name  string `json:"name"`
	Proto int    `json:"proto"`
	Hex   string `json:"hex"`
}

type pyReply struct {
	Version string `json:"version"`
	Cases   []struct {
		Name    string   `json:"name"`
		Desc    string   `json:"desc"`
		Pickles []string `json:"pickles"`
	} `json:"cases"`
	Load []struct {
		Name   string `json:"name"`
		Proto  int    `json:"proto"`
		Desc   string `json:"desc"`
		Redump string `json:"redump"`
		Error  string `json:"error"`
	} `json:"load"`
	Pickletester []struct {
		Name  string `json:"name"`
		Hex   string `json:"hex"`
		Desc  string `json:"desc"`
		Error string `json:"error"`
	} `json:"pickletester"`
}

// runPython sends one request to testdata/pyhelper.py under python.
func runPython(t *testing.T, python string, req pyRequest) pyReply {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "testdata/pyhelper.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s testdata/pyhelper.py: %v; its stderr:\n%s", python, err, stderr.String())
	}
	var reply pyReply
	if err := json.Unmarshal(out, &reply); err != nil {
		t.Fatalf("%s: bad reply: %v", python, err)
	}
	return reply
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// describe is pyhelper.py's desc() for Go values: a canonical text form
// that must match what Python says of the same value.
func describe(v any) string {
	var b strings.Builder
	d := describer{seen: map[any]int{}}
	d.desc(&b, v)
	return b.String()
}

type describer struct{ seen map[any]int }

// mark numbers a shared container on first sight and reports a repeat.
func (d *describer) mark(b *strings.Builder, id any) bool {
	if id == nil {
		d.seen[new(int)] = len(d.seen)
		return false
	}
	if n, ok := d.seen[id]; ok {
		fmt.Fprintf(b, "@%d", n)
		return true
	}
	d.seen[id] = len(d.seen)
	return false
}

func (d *describer) desc(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		b.WriteString(map[bool]string{true: "True", false: "False"}[x])
	case *big.Int:
		fmt.Fprintf(b, "i%s", x)
	case string:
		b.WriteString("s" + hex.EncodeToString([]byte(x)))
	case []byte:
		b.WriteString("b" + hex.EncodeToString(x))
	case ByteArray:
		b.WriteString("B" + hex.EncodeToString(x))
	case PickleBuffer:
		fmt.Fprintf(b, "P%s%x", map[bool]string{true: "r", false: "w"}[x.ReadOnly], x.Data)
	case Tuple:
		b.WriteString("(")
		d.list(b, x)
		b.WriteString(")")
	case *Dict:
		if x.Len() > 0 && d.mark(b, x) {
			return
		}
		d.items(b, x.Items())
	case *Set:
		if x.Len() > 0 && d.mark(b, x) {
			return
		}
		d.set(b, "set{", x.Items())
	case *FrozenSet:
		if x.Len() > 0 && d.mark(b, x) {
			return
		}
		d.set(b, "fset{", x.Items())
	case Class:
		b.WriteString("C" + x.String())
	case *Object:
		if d.mark(b, x) {
			return
		}
		d.object(b, x)
	case Reducer:
		o, _ := x.PickleReduce()
		d.desc(b, o)
	default:
		d.reflect(b, reflect.ValueOf(v))
	}
}

func (d *describer) reflect(b *strings.Builder, rv reflect.Value) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		fmt.Fprintf(b, "i%d", rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		fmt.Fprintf(b, "i%d", rv.Uint())
	case reflect.Float32, reflect.Float64:
		fmt.Fprintf(b, "f%016x", math.Float64bits(rv.Float()))
	case reflect.Complex64, reflect.Complex128:
		c := rv.Complex()
		fmt.Fprintf(b, "c%016x%016x", math.Float64bits(real(c)), math.Float64bits(imag(c)))
	case reflect.String:
		d.desc(b, rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			b.WriteString("None")
			return
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			bs := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(bs), rv)
			d.desc(b, bs)
			return
		}
		if rv.Len() > 0 {
			var id any
			if rv.Kind() == reflect.Slice {
				id = [2]uintptr{uintptr(rv.UnsafePointer()), uintptr(rv.Len())}
			}
			if d.mark(b, id) {
				return
			}
		}
		items := make([]any, rv.Len())
		for i := range items {
			items[i] = rv.Index(i).Interface()
		}
		b.WriteString("[")
		d.list(b, items)
		b.WriteString("]")
	case reflect.Map:
		if rv.IsNil() {
			b.WriteString("None")
			return
		}
		if rv.Len() > 0 && d.mark(b, rv.UnsafePointer()) {
			return
		}
		keys := rv.MapKeys()
		slices.SortFunc(keys, compareKeys)
		items := make([]Item, len(keys))
		for i, k := range keys {
			items[i] = Item{k.Interface(), rv.MapIndex(k).Interface()}
		}
		d.items(b, items)
	case reflect.Struct:
		var items []Item
		for _, f := range structFields(rv.Type()) {
			if fv := rv.Field(f.index); !(f.omitEmpty && fv.IsZero()) {
				items = append(items, Item{f.name, fv.Interface()})
			}
		}
		if len(items) > 0 {
			d.mark(b, nil)
		}
		d.items(b, items)
	case reflect.Pointer:
		if rv.IsNil() {
			b.WriteString("None")
			return
		}
		if rv.Elem().Kind() == reflect.Struct && d.mark(b, rv.UnsafePointer()) {
			return
		}
		d.desc(b, rv.Elem().Interface())
	default:
		fmt.Fprintf(b, "?%T", rv.Interface())
	}
}

func (d *describer) list(b *strings.Builder, items []any) {
	for i, e := range items {
		if i > 0 {
			b.WriteString(",")
		}
		d.desc(b, e)
	}
}

func (d *describer) items(b *strings.Builder, items []Item) {
	b.WriteString("{")
	for i, it := range items {
		if i > 0 {
			b.WriteString(",")
		}
		d.desc(b, it.Key)
		b.WriteString(":")
		d.desc(b, it.Value)
	}
	b.WriteString("}")
}

func (d *describer) set(b *strings.Builder, open string, items []any) {
	parts := make([]string, len(items))
	for i, e := range items {
		var sb strings.Builder
		d.desc(&sb, e)
		parts[i] = sb.String()
	}
	slices.Sort(parts)
	b.WriteString(open + strings.Join(parts, ",") + "}")
}

func (d *describer) object(b *strings.Builder, o *Object) {
	name := o.Class.String()
	if o.Callable != nil {
		var sb strings.Builder
		d.desc(&sb, o.Callable)
		name = sb.String()
	}
	isNew := 0
	if o.New {
		isNew = 1
	}
	fmt.Fprintf(b, "O(%s,new=%d,args=", name, isNew)
	d.desc(b, o.Args)
	if o.State != nil {
		b.WriteString(",state=")
		d.desc(b, o.State)
	}
	if len(o.ListItems) > 0 {
		b.WriteString(",list=[")
		d.list(b, o.ListItems)
		b.WriteString("]")
	}
	if o.DictItems != nil && o.DictItems.Len() > 0 {
		b.WriteString(",dict=")
		d.items(b, o.DictItems.Items())
	}
	b.WriteString(")")
}

// A crossCase is one value on both sides: its Go form, the Python
// expression for it, and whether CPython's bytes must equal ours at
// protocols 2-5 (false where CPython's bytes depend on something Go has no
// equivalent for, such as OrderedDict's class or a str set's hash order).
type crossCase struct {
	name  string
	goVal any
	expr  string
	exact bool
}

func mustDict(kv ...any) *Dict {
	d := NewDict(len(kv) / 2)
	for i := 0; i < len(kv); i += 2 {
		if err := d.Set(kv[i], kv[i+1]); err != nil {
			panic(err)
		}
	}
	return d
}

func mustSet(items ...any) *Set {
	s, err := NewSet(items...)
	if err != nil {
		panic(err)
	}
	return s
}

func mustFrozenSet(items ...any) *FrozenSet {
	s, err := NewFrozenSet(items...)
	if err != nil {
		panic(err)
	}
	return s
}

func intRange(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

func bigInt(s string) *big.Int {
	x, ok := new(big.Int).SetString(s, 0)
	if !ok {
		panic(s)
	}
	return x
}

type sample struct {
	A int
	B string `pickle:"b"`
	//lint:ignore U1000 an unexported field, which the encoder must leave out
	skip int
	C    []int `pickle:",omitempty"`
	D    bool  `pickle:"-"`
}

// crossCases is the shared value table of the CPython tests.
var crossCases = sync.OnceValue(func() []crossCase {
	shared := []any{int64(1)}
	recursive := make([]any, 1)
	recursive[0] = recursive
	bigDict := NewDict(10000)
	for i := range 10000 {
		bigDict.Set(fmt.Sprint(i), int64(i))
	}
	dict1000 := NewDict(1000)
	for i := range 1000 {
		dict1000.Set(int64(i), int64(0))
	}
	valueErr := &Object{Class: Class{"builtins", "ValueError"}, Args: Tuple{"boom"}}
	return []crossCase{
		{"none", nil, "None", true},
		{"true", true, "True", true},
		{"false", false, "False", true},
		{"int0", 0, "0", true},
		{"int255", 255, "255", true},
		{"int256", 256, "256", true},
		{"int65535", 65535, "65535", true},
		{"int65536", 65536, "65536", true},
		{"int-1", -1, "-1", true},
		{"int-129", -129, "-129", true},
		{"int32max", math.MaxInt32, "2**31-1", true},
		{"int32min", math.MinInt32, "-2**31", true},
		{"int2^31", int64(1) << 31, "2**31", true},
		{"int64max", int64(math.MaxInt64), "2**63-1", true},
		{"int64min", int64(math.MinInt64), "-2**63", true},
		{"uint64max", uint64(math.MaxUint64), "2**64-1", true},
		{"big2^64", bigInt("18446744073709551616"), "2**64", true},
		{"big-2^100", new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 100)), "-2**100", true},
		{"big2^2048", new(big.Int).Lsh(big.NewInt(1), 2048), "2**2048", true},
		{"float0", 0.0, "0.0", true},
		{"float-0", math.Copysign(0, -1), "-0.0", true},
		{"float1.5", 1.5, "1.5", true},
		{"float1e300", 1e300, "1e300", true},
		{"float-inf", math.Inf(-1), "float('-inf')", true},
		{"float-nan", math.Float64frombits(pyNaN), "float('nan')", true},
		{"complex", complex(1, 2), "1+2j", true},
		{"str-empty", "", "''", true},
		{"str-abc", "abc", "'abc'", true},
		{"str-latin1", "é", "'é'", true},
		{"str-cjk", "日本語", "'日本語'", true},
		{"str-emoji", "🐍", "'🐍'", true},
		{"str-300", strings.Repeat("x", 300), "'x'*300", true},
		{"str-70000", strings.Repeat("y", 70000), "'y'*70000", true},
		{"bytes-empty", []byte{}, "b''", true},
		{"bytes-ab", []byte("ab"), "b'ab'", true},
		{"bytes-high", []byte{0, 0x80, 0xff}, "b'\\x00\\x80\\xff'", true},
		{"bytes-300", bytes.Repeat([]byte{'z'}, 300), "b'z'*300", true},
		{"bytes-70000", bytes.Repeat([]byte{'w'}, 70000), "b'w'*70000", true},
		{"bytearray-empty", ByteArray{}, "bytearray()", true},
		{"bytearray-ab", ByteArray("ab"), "bytearray(b'ab')", true},
		{"tuple0", Tuple{}, "()", true},
		{"tuple1", Tuple{int64(1)}, "(1,)", true},
		{"tuple2", Tuple{int64(1), "a"}, "(1, 'a')", true},
		{"tuple3", Tuple{int64(1), int64(2), int64(3)}, "(1, 2, 3)", true},
		{"tuple4", Tuple{int64(1), int64(2), int64(3), int64(4)}, "(1, 2, 3, 4)", true},
		{"list-empty", []any{}, "[]", true},
		{"list1", []any{int64(1)}, "[1]", true},
		{"list-mixed", []any{int64(1), "a", 2.5, nil, true}, "[1, 'a', 2.5, None, True]", true},
		{"list-2500", intRange(2500), "list(range(2500))", true},
		{"list-30000", intRange(30000), "list(range(30000))", true},
		{"list-shared", Tuple{shared, shared}, "(lambda l: (l, l))([1])", true},
		{"list-recursive", recursive, "(lambda l: (l.append(l), l)[1])([])", true},
		{"dict-empty", NewDict(0), "{}", true},
		{"dict1", mustDict("a", int64(1)), "{'a': 1}", true},
		{"dict-nested", mustDict("a", int64(1), "b", []any{int64(1), int64(2)}, int64(3), mustDict()), "{'a': 1, 'b': [1, 2], 3: {}}", true},
		{"dict-tuple-key", mustDict(Tuple{int64(1), "x"}, "v"), "{(1, 'x'): 'v'}", true},
		{"dict-1000", dict1000, "{i: 0 for i in range(1000)}", true},
		{"dict-10000", bigDict, "{str(i): i for i in range(10000)}", true},
		{"ordereddict", mustDict("b", int64(2), "a", int64(1)), "collections.OrderedDict([('b', 2), ('a', 1)])", false},
		{"set-empty", mustSet(), "set()", true},
		{"set-ints", mustSet(int64(1), int64(2), int64(3)), "{1, 2, 3}", true},
		{"set-1500", mustSet(intRange(1500)...), "set(range(1500))", true},
		{"set-strs", mustSet("a", "b", "c"), "{'a', 'b', 'c'}", false},
		{"frozenset-empty", mustFrozenSet(), "frozenset()", true},
		{"frozenset-ints", mustFrozenSet(int64(1), int64(2)), "frozenset({1, 2})", true},
		{"frozenset-tuples", mustFrozenSet(Tuple{int64(1), int64(2)}), "frozenset({(1, 2)})", true},
		{"class", Class{"builtins", "ValueError"}, "ValueError", true},
		{"exception", valueErr, "ValueError('boom')", true},
		{"mp-task-exception", Tuple{int64(0), int64(1), Tuple{false, &Object{Class: Class{"builtins", "ValueError"}, Args: Tuple{"boom"}}}}, "(0, 1, (False, ValueError('boom')))", true},
		{"two-exceptions", Tuple{valueErr, &Object{Class: Class{"builtins", "KeyError"}, Args: Tuple{"k"}}}, "(ValueError('boom'), KeyError('k'))", true},
		{"decimal", &Object{Class: Class{"decimal", "Decimal"}, Args: Tuple{"1.5"}}, "decimal.Decimal('1.5')", true},
		{"datetime", &Object{Class: Class{"datetime", "datetime"}, Args: Tuple{[]byte{0x07, 0xe8, 1, 2, 3, 4, 5, 0, 0, 0}}}, "datetime.datetime(2024, 1, 2, 3, 4, 5)", true},
		{"user-object", &Object{Class: Class{"__main__", "Point"}, New: true, Args: Tuple{}, State: mustDict("x", int64(1), "y", int64(2))}, "Point(1, 2)", true},
		{"go-struct", sample{A: 1, B: "x"}, "{'A': 1, 'b': 'x'}", true},
		{"go-struct-ptr", &sample{A: 2, C: []int{5}}, "{'A': 2, 'b': '', 'C': [5]}", true},
		{"go-map", map[string]int{"b": 2, "a": 1}, "{'a': 1, 'b': 2}", true},
		{"go-map-any", map[string]any{"k": []string{"x"}}, "{'k': ['x']}", true},
		{"go-int-slice", []int{1, 2, 3}, "[1, 2, 3]", true},
		{"go-array", [2]string{"a", "b"}, "['a', 'b']", true},
		{"go-byte-array", [3]byte{1, 2, 3}, "b'\\x01\\x02\\x03'", true},
		{"go-int8-uint16", Tuple{int8(-5), uint16(65535), float32(0.5)}, "(-5, 65535, 0.5)", true},
	}
})

// TestCPython runs every cross case against every interpreter found:
// CPython's pickles at protocols 0-5 decode in Go to the expected value;
// Go's pickles at 2-5 load in CPython as the expected value and, where
// CPython is deterministic, are byte for byte what CPython writes; and
// Go -> Python -> Go comes back the same.
func TestCPython(t *testing.T) {
	cases := crossCases()
	var req pyRequest
	want := map[string]string{}
	ours := map[string][]byte{}
	for _, c := range cases {
		want[c.name] = describe(c.goVal)
		req.Cases = append(req.Cases, pyCase{c.name, c.expr})
		for p := LowestProtocol; p <= HighestProtocol; p++ {
			b, err := MarshalProtocol(c.goVal, p)
			if err != nil {
				t.Fatalf("%s: Marshal at protocol %d: %v", c.name, p, err)
			}
			ours[fmt.Sprint(c.name, "@", p)] = b
			req.Load = append(req.Load, pyLoad{c.name, p, hex.EncodeToString(b)})
		}
	}
	for _, py := range testpython.Stock(t) {
		reply := runPython(t, py, req)
		t.Run(reply.Version, func(t *testing.T) {
			checkPythonToGo(t, cases, want, reply)
			checkGoToPython(t, cases, want, ours, reply)
		})
	}
}

func checkPythonToGo(t *testing.T, cases []crossCase, want map[string]string, reply pyReply) {
	for i, c := range cases {
		got := reply.Cases[i]
		if got.Desc != want[c.name] {
			t.Errorf("%s: Python value %s, Go value %s", c.name, short(got.Desc), short(want[c.name]))
		}
		for p, h := range got.Pickles {
			data := unhex(t, h)
			v, err := Unmarshal(data)
			if err != nil {
				t.Errorf("%s: CPython's protocol %d pickle: %v", c.name, p, err)
				continue
			}
			if d := describe(v); d != got.Desc {
				t.Errorf("%s: CPython's protocol %d pickle decodes to %s, want %s", c.name, p, short(d), short(got.Desc))
			}
		}
	}
}

func checkGoToPython(t *testing.T, cases []crossCase, want map[string]string, ours map[string][]byte, reply pyReply) {
	exact := map[string]bool{}
	pyBytes := map[string]string{}
	for i, c := range cases {
		exact[c.name] = c.exact
		for p, h := range reply.Cases[i].Pickles {
			pyBytes[fmt.Sprint(c.name, "@", p)] = h
		}
	}
	for _, l := range reply.Load {
		key := fmt.Sprint(l.Name, "@", l.Proto)
		if l.Error != "" {
			t.Errorf("%s: CPython cannot load our protocol %d pickle: %s", l.Name, l.Proto, l.Error)
			continue
		}
		if l.Desc != want[l.Name] {
			t.Errorf("%s: our protocol %d pickle loads in CPython as %s, want %s", l.Name, l.Proto, short(l.Desc), short(want[l.Name]))
		}
		if exact[l.Name] && hex.EncodeToString(ours[key]) != pyBytes[key] {
			t.Errorf("%s: protocol %d bytes differ from CPython's:\n ours   %s\n CPython %s", l.Name, l.Proto, short(hex.EncodeToString(ours[key])), short(pyBytes[key]))
		}
		back, err := Unmarshal(unhex(t, l.Redump))
		if err != nil {
			t.Errorf("%s: Go -> Python -> Go at protocol %d: %v", l.Name, l.Proto, err)
			continue
		}
		if d := describe(back); d != want[l.Name] {
			t.Errorf("%s: Go -> Python -> Go at protocol %d gives %s, want %s", l.Name, l.Proto, short(d), short(want[l.Name]))
		}
	}
}

func short(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// TestPickletester decodes CPython's own test pickles (DATA0-DATA4 and the
// Python 2 pickles beside them in Lib/test/pickletester.py), read from each
// live interpreter, and checks them against the structure CPython builds.
func TestPickletester(t *testing.T) {
	for _, py := range testpython.Stock(t) {
		reply := runPython(t, py, pyRequest{Pickletester: true})
		t.Run(reply.Version, func(t *testing.T) {
			if len(reply.Pickletester) < 5 {
				t.Fatalf("only %d pickles from test.pickletester", len(reply.Pickletester))
			}
			for _, p := range reply.Pickletester {
				if p.Error != "" {
					t.Errorf("%s: CPython itself fails: %s", p.Name, p.Error)
					continue
				}
				v, err := Unmarshal(unhex(t, p.Hex))
				if err != nil {
					t.Errorf("%s: %v", p.Name, err)
					continue
				}
				if p.Name == "DATA_COOKIE" {
					continue // Cookie is http.cookies only through _compat_pickle's module table
				}
				if d := describe(v); d != p.Desc {
					t.Errorf("%s:\n Go      %s\n CPython %s", p.Name, d, p.Desc)
				}
			}
		})
	}
}

var _ = unsafe.Pointer(nil)
