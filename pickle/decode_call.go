package pickle

import (
	"errors"
	"fmt"
	"unsafe"
)

// call runs REDUCE, NEWOBJ, NEWOBJ_EX, INST and OBJ without calling
// anything: the few builtins that stand for Go values (set, frozenset,
// bytes, bytearray, complex, OrderedDict and their Python 2 spellings) are
// built directly from the calls CPython writes for them, which are never
// NEWOBJ (cls.__new__(cls, *args) is not what set(...) or codecs.encode(...)
// does); every other call becomes an inert *Object.
func (d *decoder) call(callable any, args Tuple, kwargs *Dict, isNew bool) error {
	if c, ok := callable.(Class); ok && kwargs == nil && !isNew {
		v, ok, err := d.builtin(c, args)
		if err != nil {
			return fmt.Errorf("%s%s: %w", c, "(...)", err)
		}
		if ok {
			d.push(v)
			return nil
		}
	}
	obj := &Object{Args: args, Kwargs: kwargs, New: isNew}
	if c, ok := callable.(Class); ok {
		obj.Class = c
	} else {
		obj.Callable = callable
	}
	d.newContainer(false)
	d.needWalk = d.needWalk || d.opts.Classes != nil
	d.push(obj)
	return nil
}

// builtin builds the value of a known builtin call, reporting false for
// any other call.
func (d *decoder) builtin(c Class, args Tuple) (any, bool, error) {
	if c.Module == "builtins" {
		switch c.Name {
		case "set":
			s := &Set{}
			return s, true, d.fromIterable(&s.hashSet, args)
		case "frozenset":
			s := &FrozenSet{}
			return s, true, d.fromIterable(&s.hashSet, args)
		case "bytes":
			b, err := bytesArg(args)
			return b, err == nil, nil
		case "bytearray":
			b, err := bytesArg(args)
			return ByteArray(b), err == nil, nil
		case "complex":
			c, err := complexArg(args)
			return c, err == nil, nil
		case "getattr":
			// Nested names at protocols below 4: getattr(cls, "Inner").
			if len(args) == 2 {
				cls, ok1 := args[0].(Class)
				name, ok2 := args[1].(string)
				if ok1 && ok2 {
					return Class{cls.Module, cls.Name + "." + name}, true, nil
				}
			}
		}
	}
	switch c {
	case Class{"_codecs", "encode"}, Class{"codecs", "encode"}:
		b, err := bytesArg(args)
		return b, err == nil, nil
	case Class{"collections", "OrderedDict"}:
		if len(args) == 0 {
			d.newContainer(false)
			return &Dict{}, true, nil
		}
	case Class{"copyreg", "_reconstructor"}:
		// Protocols 0 and 1 make plain instances with
		// _reconstructor(cls, object, None); record it as cls.__new__(cls).
		if len(args) == 3 && args[1] == (Class{"builtins", "object"}) && args[2] == nil {
			if cls, ok := args[0].(Class); ok {
				d.newContainer(false)
				d.needWalk = d.needWalk || d.opts.Classes != nil
				return &Object{Class: cls, New: true, Args: Tuple{}}, true, nil
			}
		}
	case Class{"copyreg", "__newobj__"}:
		if len(args) >= 1 {
			if cls, ok := args[0].(Class); ok {
				d.newContainer(false)
				d.needWalk = d.needWalk || d.opts.Classes != nil
				return &Object{Class: cls, New: true, Args: args[1:]}, true, nil
			}
		}
	}
	return nil, false, nil
}

// fromIterable fills a set from set(iterable) arguments.
func (d *decoder) fromIterable(s *hashSet, args Tuple) error {
	if len(args) == 0 {
		return nil
	}
	if len(args) > 1 {
		return errors.New("more than one argument")
	}
	var items []any
	switch it := args[0].(type) {
	case *listVal:
		items = it.items
	case Tuple:
		items = it
	case *Set:
		items = it.items
	case *FrozenSet:
		items = it.items
	default:
		return fmt.Errorf("cannot iterate a %s", pyTypeName(args[0]))
	}
	return d.addItems(s, items)
}

// bytesArg reads the arguments of bytes(), bytearray() and codecs.encode()
// as CPython writes them: (), (b"...",) or ("latin-1 text", "latin1").
func bytesArg(args Tuple) ([]byte, error) {
	switch len(args) {
	case 0:
		return []byte{}, nil
	case 1:
		switch b := args[0].(type) {
		case []byte:
			return append([]byte{}, b...), nil
		case ByteArray:
			return append([]byte{}, b...), nil
		}
	case 2:
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if ok1 && ok2 && (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1") {
			return latin1Bytes(s)
		}
	}
	return nil, errors.New("unrecognized arguments")
}

// latin1Bytes encodes text whose characters are all below U+0100.
func latin1Bytes(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, errors.New("text is not Latin-1")
		}
		out = append(out, byte(r))
	}
	return out, nil
}

func complexArg(args Tuple) (complex128, error) {
	var parts [2]float64
	if len(args) > 2 {
		return 0, errors.New("more than two arguments")
	}
	for i, a := range args {
		switch x := a.(type) {
		case float64:
			parts[i] = x
		case int64:
			parts[i] = float64(x)
		default:
			return 0, errors.New("unrecognized arguments")
		}
	}
	return complex(parts[0], parts[1]), nil
}

// finish turns the value under construction into its final Go form: lists
// become []any, registered classes become their Go values, and nesting is
// checked against maxDepth. It visits each container once.
func (d *decoder) finish(v any) (any, error) {
	if !d.needWalk {
		return v, nil
	}
	w := walker{
		lists:   make(map[*listVal][]any),
		done:    make(map[unsafe.Pointer]bool),
		objects: make(map[*Object]any),
		reg:     d.opts.Classes,
	}
	return w.fix(v, 0)
}

type walker struct {
	lists   map[*listVal][]any
	done    map[unsafe.Pointer]bool
	objects map[*Object]any
	reg     *Registry
}

var errTooDeep = fmt.Errorf("value nests deeper than %d levels", maxDepth)

func (w *walker) fix(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch x := v.(type) {
	case *listVal:
		if out, ok := w.lists[x]; ok {
			return out, nil
		}
		out := make([]any, len(x.items))
		w.lists[x] = out
		return out, w.fixAll(out, x.items, depth)
	case Tuple:
		if len(x) == 0 || w.seen(unsafe.Pointer(&x[0])) {
			return x, nil
		}
		return x, w.fixAll(x, x, depth)
	case *Dict:
		if w.seen(unsafe.Pointer(x)) {
			return x, nil
		}
		return x, w.fixDict(x, depth)
	case *Set:
		if w.seen(unsafe.Pointer(x)) {
			return x, nil
		}
		return x, w.fixSet(&x.hashSet, depth)
	case *FrozenSet:
		if w.seen(unsafe.Pointer(x)) {
			return x, nil
		}
		return x, w.fixSet(&x.hashSet, depth)
	case *Object:
		return w.fixObject(x, depth)
	}
	return v, nil
}

func (w *walker) seen(p unsafe.Pointer) bool {
	if w.done[p] {
		return true
	}
	w.done[p] = true
	return false
}

func (w *walker) fixAll(dst, src []any, depth int) error {
	for i, e := range src {
		f, err := w.fix(e, depth+1)
		if err != nil {
			return err
		}
		dst[i] = f
	}
	return nil
}

// fixDict fixes keys and values; if a registered class changed a key, the
// index is rebuilt.
func (w *walker) fixDict(x *Dict, depth int) error {
	rekey := false
	for i := range x.items {
		it := &x.items[i]
		k, err := w.fix(it.Key, depth+1)
		if err != nil {
			return err
		}
		if _, isObj := it.Key.(*Object); isObj && k != it.Key {
			rekey = true
		}
		it.Key = k
		if it.Value, err = w.fix(it.Value, depth+1); err != nil {
			return err
		}
	}
	if !rekey {
		return nil
	}
	items := x.items
	*x = Dict{}
	for _, it := range items {
		if err := x.Set(it.Key, it.Value); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) fixSet(s *hashSet, depth int) error {
	for i, e := range s.items {
		f, err := w.fix(e, depth+1)
		if err != nil {
			return err
		}
		s.items[i] = f
	}
	return nil
}

func (w *walker) fixObject(x *Object, depth int) (any, error) {
	if out, ok := w.objects[x]; ok {
		return out, nil
	}
	w.objects[x] = x
	var err error
	if x.Callable != nil {
		if x.Callable, err = w.fix(x.Callable, depth+1); err != nil {
			return nil, err
		}
	}
	if _, err = w.fix(x.Args, depth+1); err != nil {
		return nil, err
	}
	if x.Kwargs != nil {
		if _, err = w.fix(x.Kwargs, depth+1); err != nil {
			return nil, err
		}
	}
	if x.State, err = w.fix(x.State, depth+1); err != nil {
		return nil, err
	}
	if err = w.fixAll(x.ListItems, x.ListItems, depth); err != nil {
		return nil, err
	}
	if x.DictItems != nil {
		if _, err = w.fix(x.DictItems, depth+1); err != nil {
			return nil, err
		}
	}
	if w.reg == nil {
		return x, nil
	}
	fn := w.reg.decoders[x.Class]
	if fn == nil {
		return x, nil
	}
	out, err := fn(x)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", x.Class, err)
	}
	w.objects[x] = out
	return out, nil
}
