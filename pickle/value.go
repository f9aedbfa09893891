package pickle

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/big"
	"math/bits"
	"reflect"
)

// Tuple is a Python tuple.
type Tuple []any

// ByteArray is a Python bytearray; a plain []byte is a Python bytes.
type ByteArray []byte

// Class names a Python class or function by its module and qualified name,
// as GLOBAL and STACK_GLOBAL write it. Decoding a bare class reference (the
// class itself, not an instance) yields a Class; encoding one writes the
// reference.
type Class struct {
	Module string
	Name   string
}

func (c Class) String() string { return c.Module + "." + c.Name }

// Object is an instance of a Python class that the decoder does not map to a
// Go value: which class, how it was made, and what was set on it after. It is
// inert: decoding never imports or calls anything. Encoding an Object writes
// the same steps, so Go can send instances of any importable class (a
// datetime, a Decimal, an exception).
type Object struct {
	Class Class
	// Callable is what was called when it is not a named class (say, the
	// result of another reduction); Class is then empty.
	Callable any
	// Args are the positional arguments of the call.
	Args Tuple
	// Kwargs are the keyword arguments of NEWOBJ_EX, or nil.
	Kwargs *Dict
	// New reports creation by cls.__new__(cls, *args) (NEWOBJ, NEWOBJ_EX)
	// rather than by calling the class (REDUCE).
	New bool
	// State is the BUILD argument (usually the instance __dict__), or nil.
	State any
	// ListItems were appended to the object (a list subclass).
	ListItems []any
	// DictItems were set on the object (a dict subclass).
	DictItems *Dict
}

// PickleBuffer is a protocol 5 buffer (Python's pickle.PickleBuffer). The
// encoder offers it to EncoderOptions.OutOfBand; kept in band, it is written
// as bytes when ReadOnly, else as a bytearray. NEXT_BUFFER decodes to one.
type PickleBuffer struct {
	Data     []byte
	ReadOnly bool
}

// Item is one key, value pair of a Dict.
type Item struct {
	Key   any
	Value any
}

// Dict is a Python dict: it keeps insertion order and compares keys the way
// Python does (1, 1.0 and True are one key; equal tuples are one key).
type Dict struct {
	items []Item
	// The index of each key, by its hashKey: str and int keys (the most
	// common) in maps of their own type, which hash and compare cheaper
	// than interfaces; every other key in index.
	strs  strIndex
	ints  map[int64]int
	index map[any]int
}

// NewDict returns an empty Dict with room for n items.
func NewDict(n int) *Dict {
	return &Dict{items: make([]Item, 0, n)}
}

// Len returns the number of items.
func (d *Dict) Len() int { return len(d.items) }

// Items returns the items in insertion order. The slice is the Dict's own:
// do not modify it.
func (d *Dict) Items() []Item { return d.items }

// Set sets d[key] = value, keeping the position of an existing key. It fails
// when key is unhashable in Python (a list, dict, set or bytearray).
func (d *Dict) Set(key, value any) error {
	k, err := hashKey(key)
	if err != nil {
		return err
	}
	d.set(k, key, value)
	return nil
}

// set sets the item of key, whose hashKey is k.
func (d *Dict) set(k, key, value any) {
	if s, ok := k.(string); ok {
		i, found, h := d.strs.find(d.items, s)
		if found {
			d.items[i].Value = value
			return
		}
		d.strs.add(h, len(d.items), max(cap(d.items)-len(d.items), 8))
		d.items = append(d.items, Item{key, value})
		return
	}
	if i, ok := d.find(k); ok {
		d.items[i].Value = value
		return
	}
	i, hint := len(d.items), max(cap(d.items)-len(d.items), 8)
	switch x := k.(type) {
	case int64:
		if d.ints == nil {
			d.ints = make(map[int64]int, hint)
		}
		d.ints[x] = i
	default:
		if d.index == nil {
			d.index = make(map[any]int)
		}
		d.index[k] = i
	}
	d.items = append(d.items, Item{key, value})
}

// find returns the position of the key whose hashKey is k.
func (d *Dict) find(k any) (int, bool) {
	var i int
	var ok bool
	switch x := k.(type) {
	case string:
		i, ok, _ = d.strs.find(d.items, x)
	case int64:
		i, ok = d.ints[x]
	default:
		i, ok = d.index[k]
	}
	return i, ok
}

// Get returns d[key] and whether it is present.
func (d *Dict) Get(key any) (any, bool) {
	k, err := hashKey(key)
	if err != nil {
		return nil, false
	}
	i, ok := d.find(k)
	if !ok {
		return nil, false
	}
	return d.items[i].Value, true
}

// strIndex maps str keys to their positions in a Dict's items: an
// open-addressed table with linear probing, at most 3/4 full, of 8-byte
// slots (the top 32 bits of the key's hash, and the position plus one) that
// the garbage collector need not scan; the keys themselves are only in the
// items. The hash is hash/maphash with a random per-process seed, so that
// crafted keys can no more make probing quadratic than they can in a Go map.
type strIndex struct {
	slots []uint64
	shift uint // 64 - log2(len(slots)): a key's first slot is hash >> shift
	n     int
}

var strSeed = maphash.MakeSeed()

// find returns the position of the item whose key is s, or else the hash
// of s for add.
func (x *strIndex) find(items []Item, s string) (pos int, ok bool, h uint64) {
	h = maphash.String(strSeed, s)
	if x.n == 0 {
		return 0, false, h
	}
	tag, mask := h>>32, uint64(len(x.slots)-1)
	for i := h >> x.shift; ; i = (i + 1) & mask {
		slot := x.slots[i]
		if slot == 0 {
			return 0, false, h
		}
		if slot>>32 == tag {
			if pos := int(uint32(slot)) - 1; keyString(items[pos].Key) == s {
				return pos, true, h
			}
		}
	}
}

// add records that items[pos] has the key of hash h, which is not in the
// index; hint is how many more keys are expected. The table is kept at
// most three quarters full.
func (x *strIndex) add(h uint64, pos, hint int) {
	if 4*(x.n+1) > 3*len(x.slots) {
		x.grow(max(2*len(x.slots), 4*(x.n+hint)/3))
	}
	mask := uint64(len(x.slots) - 1)
	i := h >> x.shift
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = h>>32<<32 | uint64(pos+1)
	x.n++
}

// grow moves the slots to a table of at least n, placing each by its tag.
func (x *strIndex) grow(n int) {
	old := x.slots
	size := 16
	for size < n {
		size *= 2
	}
	x.slots = make([]uint64, size)
	x.shift = uint(64 - bits.TrailingZeros(uint(size)))
	mask := uint64(size - 1)
	for _, slot := range old {
		if slot == 0 {
			continue
		}
		i := (slot >> 32) >> (x.shift - 32)
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = slot
	}
}

// keyString is the str value of a key whose hashKey is a string: a string,
// or another Go string kind.
func keyString(k any) string {
	if s, ok := k.(string); ok {
		return s
	}
	return reflect.ValueOf(k).String()
}

// hashSet is the shared body of Set and FrozenSet: insertion-ordered
// members keyed by Python equality.
type hashSet struct {
	items []any
	index map[any]int
}

// Len returns the number of members.
func (s *hashSet) Len() int { return len(s.items) }

// Items returns the members in insertion order; do not modify the slice.
func (s *hashSet) Items() []any { return s.items }

// Add adds v; it fails when v is unhashable in Python.
func (s *hashSet) Add(v any) error {
	k, err := hashKey(v)
	if err != nil {
		return err
	}
	if s.index == nil {
		s.index = make(map[any]int)
	}
	if _, ok := s.index[k]; ok {
		return nil
	}
	s.index[k] = len(s.items)
	s.items = append(s.items, v)
	return nil
}

// Has reports whether v is a member.
func (s *hashSet) Has(v any) bool {
	k, err := hashKey(v)
	if err != nil {
		return false
	}
	_, ok := s.index[k]
	return ok
}

// Set is a Python set.
type Set struct{ hashSet }

// FrozenSet is a Python frozenset.
type FrozenSet struct{ hashSet }

// NewSet returns a Set holding items, or an error naming an unhashable one.
func NewSet(items ...any) (*Set, error) {
	s := &Set{}
	for _, v := range items {
		if err := s.Add(v); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// NewFrozenSet returns a FrozenSet holding items.
func NewFrozenSet(items ...any) (*FrozenSet, error) {
	s := &FrozenSet{}
	for _, v := range items {
		if err := s.Add(v); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Key types that keep Python-distinct values apart in a Go map.
type (
	bigKey   string // an int beyond int64, in decimal
	bytesKey string // a bytes value
	tupleKey string // a tuple, as its members' encoded keys
)

// maxKeyBytes bounds the encoded key of one tuple, so that hostile input
// (a tuple of a tuple of ... shared references) cannot blow up.
const maxKeyBytes = 1 << 16

// hashKey returns a comparable Go value equal for exactly the values Python
// treats as the same dict key, or an error for unhashable values.
func hashKey(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, int64:
		return v, nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case int:
		return int64(x), nil
	case float64:
		return floatKey(x), nil
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), nil
		}
		return bigKey(x.String()), nil
	case []byte:
		return bytesKey(x), nil
	case Tuple, *FrozenSet, complex128:
		b, err := appendKey(nil, v, 0)
		if err != nil {
			return nil, err
		}
		return tupleKey(b), nil
	case Class, *Object:
		return v, nil
	case []any, *listVal, *Dict, *Set, ByteArray:
		return nil, fmt.Errorf("unhashable type: %s", pyTypeName(v))
	}
	return otherKey(v)
}

func floatKey(f float64) any {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return int64(f)
	}
	return f
}

// appendKey appends a tagged encoding of v's key to b.
func appendKey(b []byte, v any, depth int) ([]byte, error) {
	if depth > 100 || len(b) > maxKeyBytes {
		return nil, fmt.Errorf("dict key too large or too deeply nested")
	}
	switch x := v.(type) {
	case Tuple:
		b = append(b, '(')
		for _, e := range x {
			var err error
			if b, err = appendKey(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ')'), nil
	case *FrozenSet:
		// Members of a frozenset are unordered: combine their keys with an
		// order-independent sum of FNV hashes, then the exact key length.
		var sum uint64
		for _, e := range x.items {
			eb, err := appendKey(nil, e, depth+1)
			if err != nil {
				return nil, err
			}
			sum += fnv64(eb)
		}
		return fmt.Appendf(b, "f%d:%x;", len(x.items), sum), nil
	case complex128:
		if imag(x) == 0 {
			return appendKey(b, real(x), depth)
		}
		return fmt.Appendf(b, "c%x,%x;", math.Float64bits(real(x)), math.Float64bits(imag(x))), nil
	}
	k, err := hashKey(v)
	if err != nil {
		return nil, err
	}
	switch x := k.(type) {
	case tupleKey:
		return append(b, x...), nil
	case string:
		return fmt.Appendf(b, "s%d:%s", len(x), x), nil
	case bytesKey:
		return fmt.Appendf(b, "b%d:%s", len(x), x), nil
	case nil:
		return append(b, 'N'), nil
	}
	return fmt.Appendf(b, "%T:%v;", k, k), nil
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// otherKey normalizes the remaining Go kinds: any integer or float kind like
// int64 and float64, and any other comparable value as its own key.
func otherKey(v any) (any, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u > math.MaxInt64 {
			return bigKey(new(big.Int).SetUint64(u).String()), nil
		} else {
			return int64(u), nil
		}
	case reflect.Float32, reflect.Float64:
		return floatKey(rv.Float()), nil
	case reflect.String:
		return rv.String(), nil
	}
	if !rv.Comparable() {
		return nil, fmt.Errorf("unhashable type: %T", v)
	}
	return v, nil
}
