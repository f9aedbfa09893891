package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	gopickle "github.com/nlpodyssey/gopickle/pickle"
	gptypes "github.com/nlpodyssey/gopickle/types"
)

// This file runs github.com/nlpodyssey/gopickle as a reference decoder:
// how it is called, how its values become ours, and the opcode scan that
// keeps it from allocating what a length field claims. The comparison
// itself is in gopickle_diff_test.go.

// gpScan is a linear walk over a pickle's opcodes, the order in which
// gopickle reads them.
type gpScan struct {
	ops []gpOp
	// safe is false when a length field claims more bytes than the input
	// has left: gopickle would allocate the claim before reading it.
	safe bool
}

type gpOp struct {
	off int
	op  byte
	arg []byte // a text line, length-prefixed data, or fixed-size bytes
}

// gpArgSize gives each opcode's argument: -1 one text line, -2 two lines,
// a positive n fixed bytes, and 100+n data behind an n-byte length.
var gpArgSize = map[byte]int{
	opFLOAT: -1, opINT: -1, opLONG: -1, opPERSID: -1, opSTRING: -1, opUNICODE: -1,
	opGET: -1, opPUT: -1, opGLOBAL: -2, opINST: -2,
	opBININT: 4, opBININT1: 1, opBININT2: 2, opBINFLOAT: 8, opBINGET: 1,
	opLONG_BINGET: 4, opBINPUT: 1, opLONG_BINPUT: 4, opPROTO: 1, opEXT1: 1,
	opEXT2: 2, opEXT4: 4, opFRAME: 8,
	opSHORT_BINSTRING: 101, opSHORT_BINBYTES: 101, opSHORT_BINUNICODE: 101, opLONG1: 101,
	opBINSTRING: 104, opBINUNICODE: 104, opBINBYTES: 104, opLONG4: 104,
	opBINUNICODE8: 108, opBINBYTES8: 108, opBYTEARRAY8: 108,
}

// scanForGopickle walks data up to STOP, the first byte that is no opcode,
// or the end.
func scanForGopickle(data []byte) gpScan {
	s := gpScan{safe: true}
	for pos := 0; pos < len(data); {
		op := data[pos]
		if opNames[op] == "" || op == opSTOP {
			return s
		}
		start := pos
		pos++
		size := gpArgSize[op]
		var arg []byte
		switch {
		case size == 0:
		case size < 0:
			end := pos
			for range -size {
				i := bytes.IndexByte(data[end:], '\n')
				if i < 0 {
					return s
				}
				end += i + 1
			}
			arg, pos = data[pos:end], end
		case size < 100:
			if len(data)-pos < size {
				return s
			}
			arg, pos = data[pos:pos+size], pos+size
			if op == opFRAME && binary.LittleEndian.Uint64(arg) > uint64(len(data)-pos) {
				s.safe = false
			}
		default:
			n := size - 100
			if len(data)-pos < n {
				return s
			}
			var claim uint64
			for i := n - 1; i >= 0; i-- {
				claim = claim<<8 | uint64(data[pos+i])
			}
			pos += n
			if claim > uint64(len(data)-pos) {
				s.safe = false
				return s
			}
			arg, pos = data[pos:pos+int(claim)], pos+int(claim)
		}
		s.ops = append(s.ops, gpOp{start, op, arg})
	}
	return s
}

// protoAt is the protocol in effect once gopickle has read n bytes.
func (s *gpScan) protoAt(n int) int {
	p := 0
	for _, o := range s.ops {
		if o.off >= n {
			break
		}
		if o.op == opPROTO {
			p = int(o.arg[0])
		}
	}
	return p
}

// getsUnset reports whether a GET reads a memo index that no PUT or
// MEMOIZE wrote before it. MEMOIZE writes at the number of indices written
// so far, as CPython's memo_len.
func (s *gpScan) getsUnset() bool {
	written := map[uint64]bool{}
	for _, o := range s.ops {
		switch o.op {
		case opMEMOIZE:
			written[uint64(len(written))] = true
		case opPUT, opBINPUT, opLONG_BINPUT:
			written[scanIndex(o)] = true
		case opGET, opBINGET, opLONG_BINGET:
			if !written[scanIndex(o)] {
				return true
			}
		}
	}
	return false
}

func scanIndex(o gpOp) uint64 {
	switch o.op {
	case opBINGET, opBINPUT:
		return uint64(o.arg[0])
	case opLONG_BINGET, opLONG_BINPUT:
		return uint64(binary.LittleEndian.Uint32(o.arg))
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(string(o.arg), "\n"), 10, 64)
	if err != nil {
		return math.MaxUint64
	}
	return n
}

func (s *gpScan) has(op byte) bool {
	for _, o := range s.ops {
		if o.op == op {
			return true
		}
	}
	return false
}

// errGopickle wraps whatever stopped gopickle: an error or a panic.
var errGopickle = errors.New("gopickle cannot decode this")

// gopickleLoad decodes data with gopickle's Unpickler, its FindClass hook
// returning refClass, and turns a panic into an error.
func gopickleLoad(data []byte, scan *gpScan) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%w: panic: %v", errGopickle, r)
		}
	}()
	r := bytes.NewReader(data)
	u := gopickle.NewUnpickler(r)
	u.FindClass = func(module, name string) (any, error) {
		c := Class{module, name}
		if scan.protoAt(int(r.Size())-r.Len()) < 3 {
			c = py3Name(c) // Python 2 names, as CPython's _compat_pickle reads them
		}
		return &refClass{c}, nil
	}
	v, err = u.Load()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errGopickle, err)
	}
	return v, nil
}

// refClass is the class FindClass gives gopickle. Called, it gives what
// Python gives for the builtins CPython's pickles call (set, frozenset,
// bytes, bytearray, complex, _codecs.encode, getattr and the copyreg
// helpers) with the arguments CPython writes; any other call is recorded,
// not made, as a refObject.
type refClass struct{ c Class }

// refObject is an instance gopickle made through refClass: the class or
// other callable, the arguments, and what BUILD, APPEND and SETITEM did.
type refObject struct {
	class    *refClass
	callable any
	args     []any
	isNew    bool
	state    any
	list     []any
	dict     *gptypes.Dict
}

// Call runs REDUCE, INST and OBJ.
func (r *refClass) Call(args ...any) (any, error) {
	if v, ok, err := r.builtin(args); ok || err != nil {
		return v, err
	}
	return &refObject{class: r, args: args}, nil
}

// PyNew runs NEWOBJ (and NEWOBJ_EX, with the keywords as a last argument).
func (r *refClass) PyNew(args ...any) (any, error) {
	return &refObject{class: r, args: args, isNew: true}, nil
}

// Call and PyNew on an instance: the result of a call used as a callable.
func (o *refObject) Call(args ...any) (any, error) {
	return &refObject{callable: o, args: args}, nil
}

func (o *refObject) PyNew(args ...any) (any, error) {
	return &refObject{callable: o, args: args, isNew: true}, nil
}

// PySetState runs BUILD. A second dict state updates the first, as
// __dict__.update does, into a new dict: the first state is left as it was.
func (o *refObject) PySetState(state any) error {
	old, ok1 := o.state.(*gptypes.Dict)
	add, ok2 := state.(*gptypes.Dict)
	if ok1 && ok2 && old != add {
		merged := append(append(gptypes.Dict{}, *old...), *add...)
		o.state = &merged
		return nil
	}
	o.state = state
	return nil
}

func (o *refObject) Append(v any) { o.list = append(o.list, v) }

func (o *refObject) Set(k, v any) {
	if o.dict == nil {
		o.dict = gptypes.NewDict()
	}
	o.dict.Set(k, v)
}

func (r *refClass) builtin(args []any) (any, bool, error) {
	switch r.c {
	case Class{"builtins", "set"}:
		items, err := refIterable(args)
		return gptypes.NewSetFromSlice(items), err == nil, err
	case Class{"builtins", "frozenset"}:
		items, err := refIterable(args)
		return gptypes.NewFrozenSetFromSlice(items), err == nil, err
	case Class{"builtins", "bytes"}, Class{"_codecs", "encode"}, Class{"codecs", "encode"}:
		b, ok, err := refBytes(args)
		return b, ok, err
	case Class{"builtins", "bytearray"}:
		b, ok, err := refBytes(args)
		return gptypes.NewByteArrayFromSlice(b), ok, err
	case Class{"builtins", "complex"}:
		var parts [2]float64
		for i, a := range args {
			f, ok := refNumber(a)
			if !ok || i > 1 {
				return nil, false, nil
			}
			parts[i] = f
		}
		return complex(parts[0], parts[1]), true, nil
	case Class{"builtins", "getattr"}:
		if len(args) == 2 {
			cls, ok1 := args[0].(*refClass)
			name, ok2 := args[1].(string)
			if ok1 && ok2 {
				return &refClass{Class{cls.c.Module, cls.c.Name + "." + name}}, true, nil
			}
		}
	case Class{"copyreg", "_reconstructor"}:
		// _reconstructor(cls, object, None) is object.__new__(cls).
		if len(args) == 3 && args[2] == nil {
			cls, ok := args[0].(*refClass)
			base, _ := args[1].(*refClass)
			_, gpObject := args[1].(*gptypes.ObjectClass)
			if ok && (gpObject || base != nil && base.c == Class{"builtins", "object"}) {
				return &refObject{class: cls, args: []any{}, isNew: true}, true, nil
			}
		}
	case Class{"copyreg", "__newobj__"}:
		if len(args) >= 1 {
			if cls, ok := args[0].(*refClass); ok {
				return &refObject{class: cls, args: args[1:], isNew: true}, true, nil
			}
		}
	}
	return nil, false, nil
}

func refIterable(args []any) ([]any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if len(args) == 1 {
		switch x := args[0].(type) {
		case *gptypes.List:
			return *x, nil
		case *gptypes.Tuple:
			return *x, nil
		case *gptypes.Set:
			return refKeys(*x), nil
		case *gptypes.FrozenSet:
			return refKeys(*x), nil
		}
	}
	return nil, errors.New("set() of something that is not iterable")
}

func refKeys[M ~map[any]V, V any](m M) []any {
	out := make([]any, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// refBytes reads (), (bytes,), (bytearray,) and (latin-1 text, "latin1").
func refBytes(args []any) ([]byte, bool, error) {
	switch len(args) {
	case 0:
		return []byte{}, true, nil
	case 1:
		switch b := args[0].(type) {
		case []byte:
			return bytes.Clone(b), true, nil
		case *gptypes.ByteArray:
			return append([]byte{}, *b...), true, nil
		}
	case 2:
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if ok1 && ok2 && (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1") {
			out := []byte{}
			for _, r := range s {
				if r > 0xff {
					return nil, false, errors.New("UnicodeEncodeError")
				}
				out = append(out, byte(r))
			}
			return out, true, nil
		}
	}
	return nil, false, nil
}

func refNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	case *big.Int:
		if x.IsInt64() {
			return float64(x.Int64()), true
		}
	}
	return 0, false
}

// Reasons a gopickle value has no faithful counterpart among ours.
var (
	errGPDupKey    = errors.New("gopickle holds two keys (or set members) that Python treats as one")
	errGPUnhashKey = errors.New("gopickle holds a key (or set member) that is unhashable in Python")
)

// fromGopickle turns gopickle's values into this package's, keeping shared
// and recursive containers shared.
type fromGopickle struct {
	proto int // for the names of gopickle's own classes
	seen  map[any]any
}

func (c *fromGopickle) conv(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, float64, complex128, []byte:
		return v, nil
	case int:
		return int64(x), nil
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), nil
		}
		return x, nil
	case *gptypes.ByteArray:
		return ByteArray(*x), nil
	case *refClass:
		return x.c, nil
	case *gptypes.ObjectClass:
		return c.ownClass("__builtin__", "object"), nil
	case *gptypes.Reconstructor:
		return c.ownClass("copy_reg", "_reconstructor"), nil
	case *gptypes.OrderedDictClass:
		return Class{"collections", "OrderedDict"}, nil
	}
	if out, ok := c.seen[v]; ok {
		return out, nil
	}
	switch x := v.(type) {
	case *gptypes.Tuple:
		out := make(Tuple, len(*x))
		c.seen[v] = out
		return out, c.all(out, *x)
	case *gptypes.List:
		out := make([]any, len(*x))
		c.seen[v] = out
		return out, c.all(out, *x)
	case *gptypes.Dict:
		out := &Dict{}
		c.seen[v] = out
		return out, c.dict(out, *x)
	case *gptypes.OrderedDict:
		out := &Dict{}
		c.seen[v] = out
		var items gptypes.Dict
		for e := x.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*gptypes.OrderedDictEntry)
			items = append(items, gptypes.DictEntry{Key: entry.Key, Value: entry.Value})
		}
		return out, c.dict(out, items)
	case *gptypes.Set:
		out := &Set{}
		c.seen[v] = out
		return out, c.set(&out.hashSet, refKeys(*x))
	case *gptypes.FrozenSet:
		out := &FrozenSet{}
		c.seen[v] = out
		return out, c.set(&out.hashSet, refKeys(*x))
	case *refObject:
		return c.object(x)
	}
	return nil, fmt.Errorf("no counterpart for gopickle's %T", v)
}

// ownClass names a class gopickle resolves without FindClass.
func (c *fromGopickle) ownClass(module, name string) Class {
	if c.proto < 3 {
		return py3Name(Class{module, name})
	}
	return Class{module, name}
}

func (c *fromGopickle) all(dst, src []any) error {
	for i, e := range src {
		v, err := c.conv(e)
		if err != nil {
			return err
		}
		dst[i] = v
	}
	return nil
}

func (c *fromGopickle) dict(out *Dict, items gptypes.Dict) error {
	for _, it := range items {
		k, err := c.conv(it.Key)
		if err != nil {
			return err
		}
		v, err := c.conv(it.Value)
		if err != nil {
			return err
		}
		if _, err := hashKey(k); err != nil {
			return fmt.Errorf("%w: %v", errGPUnhashKey, err)
		}
		if _, dup := out.Get(k); dup {
			return fmt.Errorf("%w: %s", errGPDupKey, describe(k))
		}
		out.Set(k, v)
	}
	return nil
}

func (c *fromGopickle) set(out *hashSet, items []any) error {
	for _, e := range items {
		v, err := c.conv(e)
		if err != nil {
			return err
		}
		if _, err := hashKey(v); err != nil {
			return fmt.Errorf("%w: %v", errGPUnhashKey, err)
		}
		if out.Has(v) {
			return fmt.Errorf("%w: %s", errGPDupKey, describe(v))
		}
		out.Add(v)
	}
	return nil
}

func (c *fromGopickle) object(x *refObject) (any, error) {
	out := &Object{New: x.isNew}
	c.seen[x] = out
	var err error
	if x.class != nil {
		out.Class = x.class.c
	} else if out.Callable, err = c.conv(x.callable); err != nil {
		return nil, err
	}
	out.Args = make(Tuple, len(x.args))
	if err := c.all(out.Args, x.args); err != nil {
		return nil, err
	}
	if out.State, err = c.conv(x.state); err != nil {
		return nil, err
	}
	if x.list != nil {
		out.ListItems = make([]any, len(x.list))
		if err := c.all(out.ListItems, x.list); err != nil {
			return nil, err
		}
	}
	if x.dict != nil {
		out.DictItems = &Dict{}
		if err := c.dict(out.DictItems, *x.dict); err != nil {
			return nil, err
		}
	}
	return out, nil
}
