package pickle

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"unsafe"
)

// save writes any Go value: the fast cases by type, the rest by reflection.
func (e *encoder) save(v any) error {
	if err := e.boundary(); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		e.saveNone()
	case bool:
		e.saveBool(x)
	case int:
		e.saveInt(int64(x))
	case int64:
		e.saveInt(x)
	case int32:
		e.saveInt(int64(x))
	case float64:
		e.saveFloat(x)
	case string:
		return e.saveString(x)
	case []byte:
		return e.saveBytes(x)
	case []any:
		return e.saveList(x)
	case Tuple:
		return e.saveTuple(x)
	case *Dict:
		return e.saveDict(x)
	case map[string]any:
		return e.saveStringMap(x)
	case *big.Int:
		if x == nil {
			e.saveNone()
			return nil
		}
		e.saveBig(x)
	case big.Int:
		e.saveBig(&x)
	case complex128:
		return e.saveComplex(x)
	case ByteArray:
		return e.saveByteArray(x, sliceKey(unsafe.Pointer(unsafe.SliceData(x)), len(x), kindBytes))
	case *Set:
		return e.saveSet(x)
	case *FrozenSet:
		return e.saveFrozenSet(x)
	case Class:
		return e.saveGlobal(x)
	case *Object:
		return e.saveObject(x)
	case PickleBuffer:
		return e.savePickleBuffer(x)
	case *PickleBuffer:
		return e.savePickleBuffer(*x)
	case Reducer:
		obj, err := x.PickleReduce()
		if err != nil {
			return &EncodeError{Type: reflect.TypeOf(v), Err: err}
		}
		return e.saveObject(obj)
	default:
		return e.saveReflect(reflect.ValueOf(v))
	}
	return nil
}

// enter guards recursion depth; leave undoes it.
func (e *encoder) enter() error {
	e.depth++
	if e.depth > maxDepth {
		return &EncodeError{Err: fmt.Errorf("nesting deeper than %d levels", maxDepth)}
	}
	return nil
}

func (e *encoder) leave() { e.depth-- }

// at prefixes a path step to an EncodeError coming up from below.
func at(err error, step string) error {
	var ee *EncodeError
	if errors.As(err, &ee) {
		ee.Path = step + ee.Path
	}
	return err
}

func (e *encoder) saveList(l []any) error {
	key := sliceKey(unsafe.Pointer(unsafe.SliceData(l)), len(l), kindList)
	if e.seen(key) {
		return nil
	}
	e.buf = append(e.buf, opEMPTY_LIST)
	e.put(key)
	return e.appendItems(len(l), func(i int) error { return e.save(l[i]) })
}

// appendItems writes the items of a list just pushed, batched as CPython
// batches an exact list.
func (e *encoder) appendItems(n int, item func(i int) error) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	if n == 1 {
		if err := item(0); err != nil {
			return at(err, "[0]")
		}
		e.buf = append(e.buf, opAPPEND)
		return nil
	}
	for i := 0; i < n; {
		e.buf = append(e.buf, opMARK)
		for end := min(i+batchSize, n); i < end; i++ {
			if err := item(i); err != nil {
				return at(err, fmt.Sprintf("[%d]", i))
			}
		}
		e.buf = append(e.buf, opAPPENDS)
	}
	return nil
}

// saveTuple follows CPython's save_tuple, including its handling of a tuple
// that is reached again while its own items are written.
func (e *encoder) saveTuple(t Tuple) error {
	if len(t) == 0 {
		e.buf = append(e.buf, opEMPTY_TUPLE)
		return nil
	}
	key := sliceKey(unsafe.Pointer(unsafe.SliceData(t)), len(t), kindTuple)
	if e.seen(key) {
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	small := len(t) <= 3
	if !small {
		e.buf = append(e.buf, opMARK)
	}
	for i, x := range t {
		if err := e.save(x); err != nil {
			return at(err, fmt.Sprintf("[%d]", i))
		}
	}
	if idx, ok := e.memo.get(key); ok && key.kind != 0 {
		// Recursive: drop what was pushed and fetch the tuple itself.
		if small {
			for range t {
				e.buf = append(e.buf, opPOP)
			}
		} else {
			e.buf = append(e.buf, opPOP_MARK)
		}
		e.get(idx)
		return nil
	}
	if small {
		e.buf = append(e.buf, opTUPLE1+byte(len(t))-1)
	} else {
		e.buf = append(e.buf, opTUPLE)
	}
	e.put(key)
	return nil
}

func (e *encoder) saveDict(d *Dict) error {
	key := memoKey{p: unsafe.Pointer(d), n: 1, kind: kindPointer}
	if e.seen(key) {
		return nil
	}
	e.buf = append(e.buf, opEMPTY_DICT)
	e.put(key)
	return e.setItems(len(d.items), true, func(i int) (any, any, string) {
		return d.items[i].Key, d.items[i].Value, ""
	})
}

func (e *encoder) saveStringMap(m map[string]any) error {
	key := memoKey{p: unsafe.Pointer(reflect.ValueOf(m).UnsafePointer()), n: 1, kind: kindMap}
	if m == nil {
		key = memoKey{}
	}
	if e.seen(key) {
		return nil
	}
	e.buf = append(e.buf, opEMPTY_DICT)
	e.put(key)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return e.setItems(len(keys), true, func(i int) (any, any, string) {
		return keys[i], m[keys[i]], ""
	})
}

// setItems writes the items of a dict just pushed. An exact dict is batched
// as CPython's batch_dict_exact (always MARK ... SETITEMS unless it has one
// item, with a trailing empty batch after a full one); otherwise as
// batch_setitems for an iterator (a lone item in a batch uses SETITEM).
func (e *encoder) setItems(n int, exact bool, item func(i int) (k, v any, path string)) error {
	if n == 0 {
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	saveItem := func(i int) error {
		k, v, step := item(i)
		if err := e.save(k); err != nil {
			return at(err, keyStep(step, k)+"(key)")
		}
		if err := e.save(v); err != nil {
			return at(err, keyStep(step, k))
		}
		return nil
	}
	if exact && n == 1 {
		if err := saveItem(0); err != nil {
			return err
		}
		e.buf = append(e.buf, opSETITEM)
		return nil
	}
	for i := 0; ; {
		batch := min(batchSize, n-i)
		if !exact && batch == 1 {
			if err := saveItem(i); err != nil {
				return err
			}
			e.buf = append(e.buf, opSETITEM)
			return nil
		}
		if !exact && batch == 0 {
			return nil
		}
		e.buf = append(e.buf, opMARK)
		for end := i + batch; i < end; i++ {
			if err := saveItem(i); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, opSETITEMS)
		if batch < batchSize {
			return nil
		}
	}
}

// keyStep is the path step of a dict item, formatted only on error.
func keyStep(step string, k any) string {
	if step != "" {
		return step
	}
	return fmt.Sprintf("[%#v]", k)
}

func (e *encoder) saveSet(s *Set) error {
	key := memoKey{p: unsafe.Pointer(s), n: 1, kind: kindPointer}
	if e.seen(key) {
		return nil
	}
	if e.proto < 4 {
		return e.saveReduceParts(Class{"builtins", "set"}, Tuple{slices.Clip(s.items)}, key)
	}
	e.buf = append(e.buf, opEMPTY_SET)
	e.put(key)
	if len(s.items) == 0 {
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	for i := 0; ; {
		batch := min(batchSize, len(s.items)-i)
		e.buf = append(e.buf, opMARK)
		for end := i + batch; i < end; i++ {
			if err := e.save(s.items[i]); err != nil {
				return at(err, fmt.Sprintf("{%d}", i))
			}
		}
		e.buf = append(e.buf, opADDITEMS)
		if batch < batchSize {
			return nil
		}
	}
}

func (e *encoder) saveFrozenSet(s *FrozenSet) error {
	key := memoKey{p: unsafe.Pointer(s), n: 1, kind: kindPointer}
	if e.seen(key) {
		return nil
	}
	if e.proto < 4 {
		return e.saveReduceParts(Class{"builtins", "frozenset"}, Tuple{slices.Clip(s.items)}, key)
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	e.buf = append(e.buf, opMARK)
	for i, x := range s.items {
		if err := e.save(x); err != nil {
			return at(err, fmt.Sprintf("{%d}", i))
		}
	}
	if idx, ok := e.memo.get(key); ok {
		e.buf = append(e.buf, opPOP_MARK)
		e.get(idx)
		return nil
	}
	e.buf = append(e.buf, opFROZENSET)
	e.put(key)
	return nil
}

// saveGlobal writes a class reference, memoized as CPython memoizes it.
func (e *encoder) saveGlobal(c Class) error {
	if idx, ok := e.classes[c]; ok {
		e.get(idx)
		return nil
	}
	if c.Module == "" || c.Name == "" {
		return &EncodeError{Err: fmt.Errorf("class %q has an empty module or name", c.String())}
	}
	if e.proto >= 4 {
		e.saveGlobalName(c.Module, false)
		e.saveGlobalName(c.Name, true)
		e.buf = append(e.buf, opSTACK_GLOBAL)
	} else {
		m := c
		if e.proto < 3 {
			m = py2Name(c)
		}
		if strings.ContainsAny(m.Module+m.Name, "\n") {
			return &EncodeError{Err: fmt.Errorf("class name %q has a newline", c.String())}
		}
		e.buf = append(e.buf, opGLOBAL)
		e.buf = append(e.buf, m.Module...)
		e.buf = append(e.buf, '\n')
		e.buf = append(e.buf, m.Name...)
		e.buf = append(e.buf, '\n')
	}
	if e.classes == nil {
		e.classes = make(map[Class]uint32)
	}
	e.classes[c] = e.memoLen
	e.put(memoKey{})
	return nil
}

// saveGlobalName writes a module or class name, shared by value as CPython
// shares a module's name string among its classes; a class name equal to
// its module's name is another string there, so the two are kept apart.
func (e *encoder) saveGlobalName(s string, isName bool) {
	key := globalName{s, isName}
	if idx, ok := e.globals[key]; ok {
		e.get(idx)
		return
	}
	if len(s) < 256 {
		e.buf = append(e.buf, opSHORT_BINUNICODE, byte(len(s)))
	} else {
		e.buf = append(e.buf, opBINUNICODE)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(s)))
	}
	e.buf = append(e.buf, s...)
	if e.globals == nil {
		e.globals = make(map[globalName]uint32)
	}
	e.globals[key] = e.memoLen
	e.put(memoKey{})
}

// saveReduceParts writes callable(*args) and memoizes the result under key.
func (e *encoder) saveReduceParts(c Class, args Tuple, key memoKey) error {
	if err := e.saveGlobal(c); err != nil {
		return err
	}
	if err := e.saveTuple(args); err != nil {
		return err
	}
	e.buf = append(e.buf, opREDUCE)
	e.put(key)
	return nil
}

// saveObject writes an Object the way CPython's save_reduce does: callable
// and arguments, REDUCE or NEWOBJ, memo, appended and set items, then BUILD.
func (e *encoder) saveObject(o *Object) error {
	if o == nil {
		e.saveNone()
		return nil
	}
	key := memoKey{p: unsafe.Pointer(o), n: 1, kind: kindPointer}
	if e.seen(key) {
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	var callable any = o.Class
	if o.Callable != nil {
		callable = o.Callable
	}
	if err := e.save(callable); err != nil {
		return at(err, "(callable)")
	}
	if err := e.saveTuple(o.Args); err != nil {
		return at(err, "(args)")
	}
	switch {
	case o.Kwargs != nil && o.Kwargs.Len() > 0:
		if e.proto < 4 {
			return &EncodeError{Err: errors.New("keyword arguments to __new__ need protocol 4 or higher")}
		}
		if err := e.saveDict(o.Kwargs); err != nil {
			return at(err, "(kwargs)")
		}
		e.buf = append(e.buf, opNEWOBJ_EX)
	case o.New:
		e.buf = append(e.buf, opNEWOBJ)
	default:
		e.buf = append(e.buf, opREDUCE)
	}
	e.put(key)
	if len(o.ListItems) > 0 {
		if err := e.appendItems(len(o.ListItems), func(i int) error { return e.save(o.ListItems[i]) }); err != nil {
			return err
		}
	}
	if o.DictItems != nil {
		err := e.setItems(o.DictItems.Len(), false, func(i int) (any, any, string) {
			it := o.DictItems.items[i]
			return it.Key, it.Value, ""
		})
		if err != nil {
			return err
		}
	}
	if o.State != nil {
		if err := e.save(o.State); err != nil {
			return at(err, "(state)")
		}
		e.buf = append(e.buf, opBUILD)
	}
	return nil
}

// saveReflect handles every other Go value: numbers of any kind, slices,
// arrays, maps, structs and pointers.
func (e *encoder) saveReflect(rv reflect.Value) error {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.saveInt(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.saveUint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		e.saveFloat(rv.Float())
	case reflect.Complex64, reflect.Complex128:
		return e.saveComplex(rv.Complex())
	case reflect.Bool:
		e.saveBool(rv.Bool())
	case reflect.String:
		return e.saveString(rv.String())
	case reflect.Slice:
		if rv.IsNil() {
			e.saveNone()
			return nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return e.saveBytes(rv.Bytes())
		}
		return e.saveSeq(rv, sliceKey(rv.UnsafePointer(), rv.Len(), kindList))
	case reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return e.saveBytes(b)
		}
		return e.saveSeq(rv, memoKey{})
	case reflect.Map:
		if rv.IsNil() {
			e.saveNone()
			return nil
		}
		return e.saveMap(rv)
	case reflect.Struct:
		return e.saveStruct(rv, memoKey{})
	case reflect.Pointer:
		if rv.IsNil() {
			e.saveNone()
			return nil
		}
		if rv.Elem().Kind() == reflect.Struct {
			return e.saveStruct(rv.Elem(), memoKey{p: rv.UnsafePointer(), n: 1, kind: kindPointer})
		}
		return e.save(rv.Elem().Interface())
	case reflect.Interface:
		if rv.IsNil() {
			e.saveNone()
			return nil
		}
		return e.save(rv.Elem().Interface())
	default:
		return &EncodeError{Type: rv.Type(), Err: ErrUnsupportedType}
	}
	return nil
}

// saveSeq writes a Go slice or array as a list.
func (e *encoder) saveSeq(rv reflect.Value, key memoKey) error {
	if e.seen(key) {
		return nil
	}
	e.buf = append(e.buf, opEMPTY_LIST)
	e.put(key)
	return e.appendItems(rv.Len(), func(i int) error { return e.save(rv.Index(i).Interface()) })
}

// saveMap writes a Go map as a dict with its keys in sorted order, so that
// the same map always gives the same bytes.
func (e *encoder) saveMap(rv reflect.Value) error {
	key := memoKey{p: rv.UnsafePointer(), n: 1, kind: kindMap}
	if e.seen(key) {
		return nil
	}
	e.buf = append(e.buf, opEMPTY_DICT)
	e.put(key)
	keys := rv.MapKeys()
	slices.SortFunc(keys, compareKeys)
	return e.setItems(len(keys), true, func(i int) (any, any, string) {
		return keys[i].Interface(), rv.MapIndex(keys[i]).Interface(), ""
	})
}

// compareKeys orders map keys: numbers by value, strings and anything else
// by their printed form.
func compareKeys(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cmp.Compare(a.Int(), b.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return cmp.Compare(a.Uint(), b.Uint())
	case reflect.Float32, reflect.Float64:
		return cmp.Compare(a.Float(), b.Float())
	case reflect.String:
		return cmp.Compare(a.String(), b.String())
	}
	return cmp.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
}

// saveStruct writes a struct as a dict of its exported fields, in field
// order, named by the `pickle:"name"` tag or else the field name; a tag of
// "-" leaves the field out, and ",omitempty" leaves out a zero value.
func (e *encoder) saveStruct(rv reflect.Value, key memoKey) error {
	if e.seen(key) {
		return nil
	}
	fields := structFields(rv.Type())
	type kv struct {
		name string
		v    reflect.Value
	}
	items := make([]kv, 0, len(fields))
	for _, f := range fields {
		fv := rv.Field(f.index)
		if f.omitEmpty && fv.IsZero() {
			continue
		}
		items = append(items, kv{f.name, fv})
	}
	e.buf = append(e.buf, opEMPTY_DICT)
	e.put(key)
	return e.setItems(len(items), true, func(i int) (any, any, string) {
		return items[i].name, items[i].v.Interface(), "." + items[i].name
	})
}

type fieldInfo struct {
	name      string
	index     int
	omitEmpty bool
}

// structFields lists the fields of t that travel, in order.
func structFields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("pickle"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, fieldInfo{name: name, index: i, omitEmpty: opts == "omitempty"})
	}
	return out
}
