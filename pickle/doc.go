// Package pickle reads and writes Python's pickle format, so that Go code
// can exchange values with Python processes. It is the only Go code in
// gompx that knows the format.
//
// Marshal and Unmarshal are the simple entry points; Encoder and Decoder
// work over an io.Writer or io.Reader and take options: the protocol, a
// Registry of Go decoders for chosen Python classes, and protocol 5
// out-of-band buffers.
//
// # Type map
//
// Decoding gives the Go type in the middle column; encoding accepts it, and
// the other Go types listed, and writes the Python type on the left.
//
//	Python                 decodes to        also encoded from
//	None                   nil               nil pointers, slices and maps
//	bool                   bool
//	int                    int64             every Go integer kind
//	int beyond 64 bits     *big.Int          big.Int
//	float                  float64           float32
//	complex                complex128        complex64
//	str                    string            any Go string kind
//	bytes                  []byte            [N]byte; PickleBuffer{ReadOnly: true}
//	bytearray              ByteArray         PickleBuffer
//	tuple                  Tuple
//	list                   []any             any other slice or array
//	dict, OrderedDict      *Dict             Go maps (keys sorted), structs
//	set                    *Set
//	frozenset              *FrozenSet
//	a class itself         Class
//	an instance of a class *Object           Reducer
//	out-of-band buffer     PickleBuffer
//
// Dict keeps insertion order and compares keys as Python does. Structs
// travel as a dict of their exported fields, in field order, named by a
// `pickle:"name"` tag or else by the field name; "-" drops a field and
// ",omitempty" drops a zero one. A pointer to a struct is encoded as the
// struct; the same pointer twice is the same dict in Python.
//
// Instances of classes the decoder does not build itself — builtin
// exceptions such as ValueError("boom"), a multiprocessing result tuple
// carrying one, a datetime, any user class made by REDUCE, NEWOBJ, INST,
// OBJ or BUILD — decode to an inert *Object holding the class, the
// arguments and the state. Nothing is imported or called. A Registry turns
// chosen classes into Go values; the Reducer interface goes the other way.
// Decoding recognizes the calls CPython writes for the types above
// (builtins.set and frozenset, bytes via _codecs.encode, bytearray,
// complex, collections.OrderedDict, copyreg._reconstructor and
// __newobj__), and Python 2 names (__builtin__, exceptions, copy_reg) in
// pickles older than protocol 3.
//
// # Encoding
//
// The encoder writes protocols 2 to 5, default 5, and aims at the bytes
// CPython's C pickler writes for the same value: the same shortest opcodes
// (BININT1, BININT2, SHORT_BINUNICODE, TUPLE1-3, ...), batches of 1000
// items, FRAME at protocol 4 and up with payloads of 64 KiB or more outside
// frames, MEMOIZE or BINPUT after each memoized value, and Python 2 names for
// builtins below protocol 3. The memo shares a value written twice by
// identity, as CPython does by id(): the same string or byte data, the same
// slice, map, *Dict, *Set or *Object, or the same pointer to a struct.
// Recursive values (a list holding itself) therefore encode. A Go value
// with no Python counterpart returns an *EncodeError naming its type and
// its path in the value.
//
// # Decoding
//
// The decoder reads every protocol 0 to 5. Production decoding is this
// package's own opcode loop, not github.com/nlpodyssey/gopickle's, which the
// design card names; measured on gopickle v0.2.0: it indexes a 255-entry
// table with the opcode byte, so 0xff panics (index out of range); it
// allocates what a length field or a FRAME claims before reading it (a
// 13-byte pickle whose BINBYTES8 claims 1 GiB allocates 1 GiB); its Dict is
// a slice that keeps duplicate keys and looks keys up by a linear scan with
// reflect.DeepEqual, and its sets are Go maps that keep 1, 1.0 and True
// apart; it cannot decode a REDUCE of an unknown class such as an exception,
// nor a protocol 2 set, without hooks; it leaves STRING escapes and
// UNICODE's raw-unicode-escape undecoded, and pushes None for a memo index
// never stored. Those properties sit in its loop, so it could not be wrapped.
//
// gopickle is instead the reference decoder of the tests (a test-only
// requirement in go.mod). Every golden, the fuzz corpora, CPython
// 3.10-3.13's pickles of the cross cases at protocols 0-5 and CPython's
// pickletester pickles must decode alike in both wherever gopickle decodes
// them at all, and the fuzz target FuzzAgainstGopickle checks the same on
// any input; the known differences are one table in gopickle_diff_test.go,
// each with its reason.
//
// The loop never trusts the input. A length field is honoured only as the
// bytes actually arrive, so no allocation exceeds a bounded multiple of the
// input; memo indices may be sparse without costing memory; nesting is
// limited to 10000 levels and composite dict keys to a work budget
// proportional to the input; a byte that is no opcode, a truncated pickle
// (wrapping io.ErrUnexpectedEOF) or a corrupted one returns a *DecodeError,
// never a panic.
//
// Decoded values own their memory: bytes and str values are copies of the
// input. DecoderOptions.AliasInput lets UnmarshalOptions return bytes as
// slices of its input instead, which saves copying large payloads.
//
// # What it does not do
//
//   - Write protocols 0 and 1 (it reads them).
//   - Persistent ids (PERSID, BINPERSID) and the copyreg extension registry
//     (EXT1, EXT2, EXT4): decoding them is an error.
//   - Run __setstate__, __reduce__ or any Python code: state stays data.
//   - Keep Python 2 str and unicode apart: both decode to string, and a
//     Python 2 str keeps its raw bytes.
//   - Map renamed modules other than builtins, exceptions and copyreg
//     between Python 2 and 3 names.
//   - Keep the memo across Decode or Encode calls: each pickle stands alone.
//   - Keep Go type identity through Python: int8 comes back as int64, a
//     struct as *Dict, an array as []any.
package pickle
