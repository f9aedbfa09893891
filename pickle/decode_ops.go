package pickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// listVal is a list while it is being built: APPEND must grow it in place
// for every reference the memo holds. finish turns each into a []any.
type listVal struct{ items []any }

// stepContainer runs the opcodes that build containers, use the memo, or
// name and instantiate classes.
func (d *decoder) stepContainer(op byte) error {
	switch op {
	case opEMPTY_TUPLE:
		d.push(Tuple{})
	case opTUPLE1, opTUPLE2, opTUPLE3:
		n := int(op-opTUPLE1) + 1
		if len(d.stack)-d.fence() < n {
			return errUnderflow
		}
		d.containers++
		d.needWalk = d.needWalk || d.containers > maxDepth
		t := make(Tuple, n)
		copy(t, d.stack[len(d.stack)-n:])
		d.cut(len(d.stack) - n)
		d.push(t)
	case opTUPLE:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		d.newContainer(false)
		d.push(append(Tuple{}, items...))
	case opEMPTY_LIST:
		d.newContainer(true)
		d.push(&listVal{})
	case opLIST:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		d.newContainer(true)
		d.push(&listVal{items: append([]any{}, items...)})
	case opEMPTY_DICT:
		d.newContainer(false)
		d.push(&Dict{})
	case opDICT:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		d.newContainer(false)
		dict := &Dict{}
		if err := d.setItems(dict, items); err != nil {
			return err
		}
		d.push(dict)
	case opEMPTY_SET:
		d.newContainer(false)
		d.push(&Set{})
	case opFROZENSET:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		d.newContainer(false)
		s := &FrozenSet{}
		if err := d.addItems(&s.hashSet, items); err != nil {
			return err
		}
		d.push(s)
	case opAPPEND, opAPPENDS, opSETITEM, opSETITEMS, opADDITEMS:
		return d.fillContainer(op)
	case opGET, opBINGET, opLONG_BINGET:
		idx, err := d.memoIndex(op)
		if err != nil {
			return err
		}
		return d.memoGet(idx)
	case opPUT, opBINPUT, opLONG_BINPUT, opMEMOIZE:
		var idx uint64
		if op == opMEMOIZE {
			idx = d.memoLen()
		} else {
			var err error
			if idx, err = d.memoIndex(op); err != nil {
				return err
			}
		}
		v, err := d.top()
		if err != nil {
			return err
		}
		d.memoPut(idx, v)
	case opNEXT_BUFFER:
		if d.nbuffers >= len(d.opts.Buffers) {
			return errors.New("NEXT_BUFFER with no out-of-band buffer left; pass them in DecoderOptions.Buffers")
		}
		d.push(PickleBuffer{Data: d.opts.Buffers[d.nbuffers]})
		d.nbuffers++
	case opREADONLY_BUFFER:
		v, err := d.top()
		if err != nil {
			return err
		}
		pb, ok := v.(PickleBuffer)
		if !ok {
			return fmt.Errorf("READONLY_BUFFER on a %s", pyTypeName(v))
		}
		pb.ReadOnly = true
		d.stack[len(d.stack)-1] = pb
	case opPERSID, opBINPERSID:
		return errors.New("persistent ids are not supported")
	case opEXT1, opEXT2, opEXT4:
		return errors.New("extension codes (copyreg.add_extension) are not supported")
	default:
		return d.stepClass(op)
	}
	return nil
}

// newContainer counts containers, which bounds how deep the value can nest.
func (d *decoder) newContainer(list bool) {
	d.containers++
	if list || d.containers > maxDepth {
		d.needWalk = true
	}
}

func (d *decoder) memoIndex(op byte) (uint64, error) {
	switch op {
	case opBINGET, opBINPUT:
		b, err := d.nextByte()
		return uint64(b), err
	case opLONG_BINGET, opLONG_BINPUT:
		b, err := d.next(4)
		if err != nil {
			return 0, err
		}
		return uint64(binary.LittleEndian.Uint32(b)), nil
	}
	line, err := d.line()
	if err != nil {
		return 0, err
	}
	idx, err := strconv.ParseUint(string(line), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad memo index %q", line)
	}
	return idx, nil
}

// fillContainer runs APPEND(S), SETITEM(S) and ADDITEMS on the container
// below the new items.
func (d *decoder) fillContainer(op byte) error {
	var items []any
	switch op {
	case opAPPEND:
		v, err := d.pop()
		if err != nil {
			return err
		}
		items = []any{v}
	case opSETITEM:
		if len(d.stack)-d.fence() < 2 {
			return errUnderflow
		}
		items = d.stack[len(d.stack)-2:]
		d.cut(len(d.stack) - 2)
	default:
		var err error
		if items, err = d.popMark(); err != nil {
			return err
		}
	}
	target, err := d.top()
	if err != nil {
		return err
	}
	switch t := target.(type) {
	case *listVal:
		if op == opAPPEND || op == opAPPENDS {
			t.items = append(t.items, items...)
			return nil
		}
	case *Dict:
		if op == opSETITEM || op == opSETITEMS {
			if op == opSETITEMS {
				d.growItems(t, len(items)/2, d.offset()-d.markAt)
			}
			return d.setItems(t, items)
		}
	case *Set:
		if op == opADDITEMS {
			return d.addItems(&t.hashSet, items)
		}
	case *Object:
		switch op {
		case opAPPEND, opAPPENDS:
			t.ListItems = append(t.ListItems, items...)
			return nil
		case opSETITEM, opSETITEMS:
			if t.DictItems == nil {
				t.DictItems = &Dict{}
			}
			return d.setItems(t.DictItems, items)
		}
	}
	return fmt.Errorf("%s on a %s", opNames[op], pyTypeName(target))
}

// setItems adds key, value pairs to a dict.
func (d *decoder) setItems(dict *Dict, kv []any) error {
	if len(kv)%2 != 0 {
		return errors.New("odd number of items for a dict")
	}
	if n := len(dict.items) + len(kv)/2; n > cap(dict.items) {
		// Room for this batch, which the input holds (len(kv) is bounded
		// by the stack, so by the bytes read), at least doubling.
		dict.items = append(make([]Item, 0, max(n, 2*cap(dict.items))), dict.items...)
	}
	for i := 0; i < len(kv); i += 2 {
		k, err := d.key(kv[i])
		if err != nil {
			return err
		}
		dict.set(k, kv[i], kv[i+1])
	}
	return nil
}

// growItems makes room in dict for a SETITEMS batch of pairs that took
// batchBytes of input. A dict that already holds items is being written
// batch by batch (CPython's batches are 1000 pairs), so it is sized, at
// least doubling, for what the rest of the input would hold at this batch's
// bytes per pair, plus 1/16. That guess is spare capacity the input has not
// paid for yet: all the guesses of one pickle together may reserve at most
// one item per two bytes of input, as many items as it could hold, so that
// many dicts cannot each claim the whole rest of the input.
func (d *decoder) growItems(dict *Dict, pairs int, batchBytes int64) {
	n := len(dict.items) + pairs
	if n <= cap(dict.items) {
		return
	}
	size := max(n, 2*cap(dict.items))
	if len(dict.items) > 0 && pairs > 0 && batchBytes > 0 {
		rest := float64(len(d.data) - d.pos)
		guess := n + int(rest*float64(pairs)/float64(batchBytes)*17/16)
		budget := d.read()/2 - d.spareItems
		if guess > size && guess-n <= budget {
			size = guess
			d.spareItems += guess - n
		}
	}
	dict.items = append(make([]Item, 0, size), dict.items...)
}

func (d *decoder) addItems(s *hashSet, items []any) error {
	if s.index == nil {
		s.index = make(map[any]int, len(items))
	}
	for _, v := range items {
		k, err := d.key(v)
		if err != nil {
			return err
		}
		if _, ok := s.index[k]; !ok {
			s.index[k] = len(s.items)
			s.items = append(s.items, v)
		}
	}
	return nil
}

// key is hashKey with the work spent on composite keys bounded by a
// multiple of the input read so far.
func (d *decoder) key(v any) (any, error) {
	switch v.(type) {
	case string, int64, nil, bool, float64, Class, *Object:
		return hashKey(v)
	}
	k, err := hashKey(v)
	if tk, ok := k.(tupleKey); ok {
		d.keyBytes += len(tk)
		if d.keyBytes > 1<<20+16*d.read() {
			return nil, errors.New("dict keys are out of proportion to the input")
		}
	}
	return k, err
}

// stepClass runs the opcodes that name classes and make instances.
func (d *decoder) stepClass(op byte) error {
	switch op {
	case opGLOBAL, opINST:
		c, err := d.textClass()
		if err != nil {
			return err
		}
		if op == opGLOBAL {
			d.push(c)
			return nil
		}
		args, err := d.popMark()
		if err != nil {
			return err
		}
		return d.call(c, append(Tuple{}, args...), nil, false)
	case opSTACK_GLOBAL:
		name, err := d.pop()
		if err != nil {
			return err
		}
		module, err := d.pop()
		if err != nil {
			return err
		}
		m, ok1 := module.(string)
		n, ok2 := name.(string)
		if !ok1 || !ok2 {
			return errors.New("STACK_GLOBAL needs two strs")
		}
		d.push(d.className(m, n))
	case opOBJ:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return errUnderflow
		}
		return d.call(items[0], append(Tuple{}, items[1:]...), nil, false)
	case opREDUCE, opNEWOBJ:
		args, err := d.popTuple()
		if err != nil {
			return err
		}
		callable, err := d.pop()
		if err != nil {
			return err
		}
		return d.call(callable, args, nil, op == opNEWOBJ)
	case opNEWOBJ_EX:
		kw, err := d.pop()
		if err != nil {
			return err
		}
		kwargs, ok := kw.(*Dict)
		if !ok {
			return fmt.Errorf("NEWOBJ_EX keyword arguments are a %s, not a dict", pyTypeName(kw))
		}
		args, err := d.popTuple()
		if err != nil {
			return err
		}
		cls, err := d.pop()
		if err != nil {
			return err
		}
		return d.call(cls, args, kwargs, true)
	case opBUILD:
		return d.build()
	default:
		return errors.New("not an opcode")
	}
	return nil
}

func (d *decoder) popTuple() (Tuple, error) {
	v, err := d.pop()
	if err != nil {
		return nil, err
	}
	t, ok := v.(Tuple)
	if !ok {
		return nil, fmt.Errorf("arguments are a %s, not a tuple", pyTypeName(v))
	}
	return t, nil
}

// textClass reads the module and name lines of GLOBAL and INST.
func (d *decoder) textClass() (Class, error) {
	module, err := d.line()
	if err != nil {
		return Class{}, err
	}
	m := string(module)
	name, err := d.line()
	if err != nil {
		return Class{}, err
	}
	return d.className(m, string(name)), nil
}

// className applies the Python 2 name map to pickles older than protocol 3.
func (d *decoder) className(module, name string) Class {
	c := Class{module, name}
	if d.proto < 3 {
		c = py3Name(c)
	}
	return c
}

// build runs BUILD: state is recorded on the object, never applied by code.
func (d *decoder) build() error {
	state, err := d.pop()
	if err != nil {
		return err
	}
	target, err := d.top()
	if err != nil {
		return err
	}
	obj, ok := target.(*Object)
	if !ok {
		return fmt.Errorf("BUILD on a %s", pyTypeName(target))
	}
	old, ok1 := obj.State.(*Dict)
	add, ok2 := state.(*Dict)
	if ok1 && ok2 && old != add {
		// A second BUILD updates the instance dict, as setstate would.
		return d.setItems(old, flatten(add))
	}
	obj.State = state
	return nil
}

func flatten(d *Dict) []any {
	kv := make([]any, 0, 2*len(d.items))
	for _, it := range d.items {
		kv = append(kv, it.Key, it.Value)
	}
	return kv
}

// loadTextString runs STRING (a quoted Python 2 str literal) and UNICODE
// (raw-unicode-escape text).
func (d *decoder) loadTextString(op byte) error {
	line, err := d.line()
	if err != nil {
		return err
	}
	if op == opUNICODE {
		s, err := rawUnicodeEscape(line)
		if err != nil {
			return err
		}
		d.push(s)
		return nil
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) < 2 || line[0] != line[len(line)-1] || (line[0] != '\'' && line[0] != '"') {
		return errors.New("the STRING opcode argument must be quoted")
	}
	s, err := unescapeString(line[1 : len(line)-1])
	if err != nil {
		return err
	}
	d.push(s)
	return nil
}

// rawUnicodeEscape decodes Python's raw-unicode-escape: \uXXXX and
// \UXXXXXXXX escapes, every other byte a Latin-1 character.
func rawUnicodeEscape(b []byte) (string, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' && i+1 < len(b) && (b[i+1] == 'u' || b[i+1] == 'U') {
			n := 4
			if b[i+1] == 'U' {
				n = 8
			}
			if i+2+n > len(b) {
				return "", errors.New("truncated \\u escape")
			}
			r, err := strconv.ParseUint(string(b[i+2:i+2+n]), 16, 32)
			if err != nil || r > 0x10ffff {
				return "", fmt.Errorf("bad escape %q", b[i:i+2+n])
			}
			out = appendRune(out, rune(r))
			i += 1 + n
			continue
		}
		out = utf8.AppendRune(out, rune(c))
	}
	return string(out), nil
}

// appendRune appends r as UTF-8, keeping surrogates as CPython's
// surrogatepass would (three bytes), so the text round-trips.
func appendRune(b []byte, r rune) []byte {
	if r >= 0xd800 && r <= 0xdfff {
		return append(b, 0xed, byte(0x80|(r>>6)&0x3f), byte(0x80|r&0x3f))
	}
	return utf8.AppendRune(b, r)
}

// unescapeString decodes the escapes of a Python 2 str literal.
func unescapeString(b []byte) (string, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(b) {
			return "", errors.New("trailing backslash in STRING")
		}
		switch c = b[i]; c {
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case 'a':
			out = append(out, 7)
		case 'b':
			out = append(out, 8)
		case 'f':
			out = append(out, 12)
		case 'v':
			out = append(out, 11)
		case '\n':
		case 'x':
			if i+3 > len(b) {
				return "", errors.New("truncated \\x escape")
			}
			v, err := strconv.ParseUint(string(b[i+1:i+3]), 16, 8)
			if err != nil {
				return "", errors.New("bad \\x escape")
			}
			out = append(out, byte(v))
			i += 2
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := 0
			j := i
			for ; j < len(b) && j < i+3 && b[j] >= '0' && b[j] <= '7'; j++ {
				v = v*8 + int(b[j]-'0')
			}
			out = append(out, byte(v))
			i = j - 1
		default:
			out = append(out, '\\', c)
		}
	}
	return string(out), nil
}

// pyTypeName names the Python type a decoded Go value stands for.
func pyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case ByteArray:
		return "bytearray"
	case Tuple:
		return "tuple"
	case []any, *listVal:
		return "list"
	case *Dict:
		return "dict"
	case *Set:
		return "set"
	case *FrozenSet:
		return "frozenset"
	case Class:
		return "class " + x.String()
	case *Object:
		return x.Class.String() + " instance"
	case PickleBuffer:
		return "PickleBuffer"
	}
	return fmt.Sprintf("%T", v)
}
