package pickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"unicode/utf8"
	"unsafe"
)

// Protocol bounds of the encoder. The decoder reads every protocol 0-5.
const (
	DefaultProtocol = 5 // what Marshal writes, as CPython 3.14 does by default
	LowestProtocol  = 2 // the oldest protocol the encoder writes
	HighestProtocol = 5 // the newest protocol known
)

// Framing and batching constants, as in CPython's _pickle.c.
const (
	frameSizeTarget = 64 * 1024 // a frame is closed once it reaches this size
	frameSizeMin    = 4         // shorter frames are written without FRAME
	frameHeaderSize = 9         // FRAME plus an 8-byte length
	batchSize       = 1000      // items per APPENDS, SETITEMS or ADDITEMS
	maxDepth        = 10000     // nesting beyond this is refused both ways
)

// Reducer is implemented by Go types that travel as an instance of a Python
// class: PickleReduce returns the class, arguments and state to write (see
// Object). This is how Go sends a datetime, a Decimal or an exception.
type Reducer interface {
	PickleReduce() (*Object, error)
}

// EncoderOptions configure an Encoder; the zero value means protocol 5 with
// every buffer in band.
type EncoderOptions struct {
	// Protocol is 2 to 5; 0 means DefaultProtocol.
	Protocol int
	// OutOfBand, at protocol 5, is offered each PickleBuffer in the order
	// they are written; returning true writes NEXT_BUFFER instead of the data,
	// and the caller ships buf.Data to the decoder alongside the pickle.
	OutOfBand func(buf PickleBuffer) bool
}

// EncodeError reports a Go value the encoder cannot write and where it sits
// in the value being encoded, as a path such as `[2]["key"].Field`.
type EncodeError struct {
	Path string
	Type reflect.Type // nil when the problem is not the type
	Err  error
}

func (e *EncodeError) Error() string {
	at := e.Path
	if at == "" {
		at = "the top level"
	}
	if e.Type != nil {
		return fmt.Sprintf("pickle: cannot encode Go type %s at %s: %v", e.Type, at, e.Err)
	}
	return fmt.Sprintf("pickle: cannot encode value at %s: %v", at, e.Err)
}

func (e *EncodeError) Unwrap() error { return e.Err }

// ErrUnsupportedType is wrapped by an EncodeError for a Go type with no
// Python counterpart (channels, functions, unsafe pointers, ...).
var ErrUnsupportedType = errors.New("no Python counterpart")

// Marshal returns the protocol 5 pickle of v. See the package documentation
// for the type map.
func Marshal(v any) ([]byte, error) {
	e := newEncoderState(nil, EncoderOptions{Protocol: DefaultProtocol})
	if err := e.dump(v); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// MarshalProtocol is Marshal at the given protocol (2 to 5).
func MarshalProtocol(v any, protocol int) ([]byte, error) {
	if protocol < LowestProtocol || protocol > HighestProtocol {
		return nil, fmt.Errorf("pickle: protocol %d not supported; use %d to %d", protocol, LowestProtocol, HighestProtocol)
	}
	e := newEncoderState(nil, EncoderOptions{Protocol: protocol})
	if err := e.dump(v); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// Encoder writes pickles to an io.Writer, one per Encode call. Each pickle
// has its own memo, as with CPython's pickle.dump.
type Encoder struct {
	w    io.Writer
	opts EncoderOptions
}

// NewEncoder returns an Encoder writing to w. A nil opts means the defaults.
func NewEncoder(w io.Writer, opts *EncoderOptions) (*Encoder, error) {
	var o EncoderOptions
	if opts != nil {
		o = *opts
	}
	if o.Protocol == 0 {
		o.Protocol = DefaultProtocol
	}
	if o.Protocol < LowestProtocol || o.Protocol > HighestProtocol {
		return nil, fmt.Errorf("pickle: protocol %d not supported; use %d to %d", o.Protocol, LowestProtocol, HighestProtocol)
	}
	return &Encoder{w: w, opts: o}, nil
}

// Encode writes the pickle of v. On error, part of the pickle may already
// have been written.
func (enc *Encoder) Encode(v any) error {
	e := newEncoderState(enc.w, enc.opts)
	if err := e.dump(v); err != nil {
		return err
	}
	return e.flush()
}

// memoKey identifies a Go value that the memo shares: the address and length
// of its data, and a kind so that different views of one address differ.
type memoKey struct {
	p    unsafe.Pointer
	n    int
	kind uint8
}

const (
	kindString uint8 = iota + 1
	kindBytes
	kindList
	kindTuple
	kindMap
	kindPointer
)

// globalName is a module or class name string written for STACK_GLOBAL.
type globalName struct {
	s      string
	isName bool
}

// encoder is the state of one pickle being written.
type encoder struct {
	w          io.Writer // nil: keep everything in buf (Marshal)
	proto      int
	outOfBand  func(PickleBuffer) bool
	buf        []byte
	frameStart int // offset of the open frame's header in buf, or -1
	memo       *memoTable
	globals    map[globalName]uint32 // module and class names, memoized by value
	classes    map[Class]uint32      // classes already written
	memoLen    uint32
	depth      int
}

func newEncoderState(w io.Writer, o EncoderOptions) *encoder {
	return &encoder{
		w:          w,
		proto:      o.Protocol,
		outOfBand:  o.OutOfBand,
		buf:        make([]byte, 0, 256),
		frameStart: -1,
	}
}

func (e *encoder) dump(v any) error {
	e.memo = newMemoTable()
	defer func() {
		e.memo.release()
		e.memo = nil
	}()
	e.buf = append(e.buf, opPROTO, byte(e.proto))
	if e.proto >= 4 {
		e.startFrame()
	}
	if err := e.save(v); err != nil {
		return err
	}
	e.buf = append(e.buf, opSTOP)
	if e.proto >= 4 {
		e.commitFrame()
		e.frameStart = -1
	}
	return nil
}

// flush hands the buffer to the writer.
func (e *encoder) flush() error {
	if e.w == nil || len(e.buf) == 0 {
		return nil
	}
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	if err != nil {
		return fmt.Errorf("pickle: write: %w", err)
	}
	return nil
}

func (e *encoder) startFrame() {
	e.frameStart = len(e.buf)
	e.buf = append(e.buf, make([]byte, frameHeaderSize)...)
}

// commitFrame closes the open frame: it fills in the header, or removes it
// when the frame is too short to be worth one.
func (e *encoder) commitFrame() {
	n := len(e.buf) - e.frameStart - frameHeaderSize
	if n >= frameSizeMin {
		e.buf[e.frameStart] = opFRAME
		binary.LittleEndian.PutUint64(e.buf[e.frameStart+1:], uint64(n))
		return
	}
	copy(e.buf[e.frameStart:], e.buf[e.frameStart+frameHeaderSize:])
	e.buf = e.buf[:len(e.buf)-frameHeaderSize]
}

// boundary runs before each value is written, as CPython does: a frame that
// has reached its target size is closed and a new one begun; the buffer
// goes to the writer once it is large.
func (e *encoder) boundary() error {
	if e.frameStart >= 0 {
		if len(e.buf)-e.frameStart-frameHeaderSize < frameSizeTarget {
			return nil
		}
		e.commitFrame()
		if err := e.flush(); err != nil {
			return err
		}
		e.startFrame()
		return nil
	}
	if len(e.buf) >= frameSizeTarget {
		return e.flush()
	}
	return nil
}

// writeLarge writes an opcode header and a payload of at least
// frameSizeTarget bytes outside any frame, straight to the writer when
// there is one, as CPython does.
func (e *encoder) writeLarge(header []byte, data []byte) error {
	framing := e.frameStart >= 0
	if framing {
		e.commitFrame()
	}
	e.buf = append(e.buf, header...)
	if e.w != nil {
		if err := e.flush(); err != nil {
			return err
		}
		if _, err := e.w.Write(data); err != nil {
			return fmt.Errorf("pickle: write: %w", err)
		}
	} else {
		e.buf = append(e.buf, data...)
	}
	if framing {
		e.startFrame()
	}
	return nil
}

// put records the value on top of the Python stack in the memo; key may be
// the zero memoKey for values that are never looked up again.
func (e *encoder) put(key memoKey) {
	idx := e.memoLen
	e.memoLen++
	if key.kind != 0 {
		e.memo.put(key, idx)
	}
	switch {
	case e.proto >= 4:
		e.buf = append(e.buf, opMEMOIZE)
	case idx < 256:
		e.buf = append(e.buf, opBINPUT, byte(idx))
	default:
		e.buf = append(e.buf, opLONG_BINPUT)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, idx)
	}
}

// get writes a fetch of memo entry idx.
func (e *encoder) get(idx uint32) {
	if idx < 256 {
		e.buf = append(e.buf, opBINGET, byte(idx))
		return
	}
	e.buf = append(e.buf, opLONG_BINGET)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, idx)
}

// seen writes a memo fetch and reports true when key was written before.
func (e *encoder) seen(key memoKey) bool {
	if key.kind == 0 {
		return false
	}
	if idx, ok := e.memo.get(key); ok {
		e.get(idx)
		return true
	}
	return false
}

func stringKey(s string) memoKey {
	if len(s) == 0 {
		return memoKey{kind: kindString}
	}
	return memoKey{p: unsafe.Pointer(unsafe.StringData(s)), n: len(s), kind: kindString}
}

func bytesKeyOf(b []byte) memoKey {
	if len(b) == 0 {
		return memoKey{kind: kindBytes}
	}
	return memoKey{p: unsafe.Pointer(unsafe.SliceData(b)), n: len(b), kind: kindBytes}
}

func sliceKey(p unsafe.Pointer, n int, kind uint8) memoKey {
	if n == 0 || p == nil {
		return memoKey{}
	}
	return memoKey{p: p, n: n, kind: kind}
}

func (e *encoder) saveNone() { e.buf = append(e.buf, opNONE) }

func (e *encoder) saveBool(b bool) {
	if b {
		e.buf = append(e.buf, opNEWTRUE)
	} else {
		e.buf = append(e.buf, opNEWFALSE)
	}
}

// saveInt writes the shortest opcode CPython picks for i.
func (e *encoder) saveInt(i int64) {
	switch {
	case i >= 0 && i < 1<<8:
		e.buf = append(e.buf, opBININT1, byte(i))
	case i >= 0 && i < 1<<16:
		e.buf = append(e.buf, opBININT2, byte(i), byte(i>>8))
	case i >= math.MinInt32 && i <= math.MaxInt32:
		e.buf = append(e.buf, opBININT)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(i))
	default:
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], uint64(i))
		n := 8
		// Drop sign-extension bytes that the next byte's top bit implies.
		for n > 1 && ((tmp[n-1] == 0 && tmp[n-2]&0x80 == 0) || (tmp[n-1] == 0xff && tmp[n-2]&0x80 != 0)) {
			n--
		}
		e.buf = append(e.buf, opLONG1, byte(n))
		e.buf = append(e.buf, tmp[:n]...)
	}
}

func (e *encoder) saveUint(u uint64) {
	if u <= math.MaxInt64 {
		e.saveInt(int64(u))
		return
	}
	e.saveBig(new(big.Int).SetUint64(u))
}

// saveBig writes an int as LONG1 or LONG4 in two's complement little-endian.
func (e *encoder) saveBig(x *big.Int) {
	if x.IsInt64() {
		e.saveInt(x.Int64())
		return
	}
	b := encodeLong(x)
	if len(b) < 256 {
		e.buf = append(e.buf, opLONG1, byte(len(b)))
	} else {
		e.buf = append(e.buf, opLONG4)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(b)))
	}
	e.buf = append(e.buf, b...)
}

// encodeLong returns x in the minimal two's complement little-endian form.
func encodeLong(x *big.Int) []byte {
	if x.Sign() == 0 {
		return nil
	}
	n := x.BitLen()/8 + 1
	var mag *big.Int
	if x.Sign() > 0 {
		mag = x
	} else {
		// Two's complement: 2**(8n) + x.
		mag = new(big.Int).Lsh(big.NewInt(1), uint(8*n))
		mag.Add(mag, x)
	}
	be := mag.FillBytes(make([]byte, n))
	le := make([]byte, n)
	for i := range be {
		le[n-1-i] = be[i]
	}
	if x.Sign() < 0 && n > 1 && le[n-1] == 0xff && le[n-2]&0x80 != 0 {
		le = le[:n-1]
	}
	return le
}

func (e *encoder) saveFloat(f float64) {
	e.buf = append(e.buf, opBINFLOAT)
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
}

func (e *encoder) saveString(s string) error {
	key := stringKey(s)
	if e.seen(key) {
		return nil
	}
	n := len(s)
	var hdr [9]byte
	h, err := e.sizedHeader(&hdr, strOps, n)
	if err != nil {
		return err
	}
	if err := e.writeData(h, unsafe.Slice(unsafe.StringData(s), n)); err != nil {
		return err
	}
	e.put(key)
	return nil
}

// sizedOps are the opcodes of one kind of length-prefixed data, by length width.
type sizedOps struct {
	short, four, eight byte
	shortFrom          int    // lowest protocol with the one-byte form
	kind               string // the Python type, for errors
}

var (
	strOps   = sizedOps{opSHORT_BINUNICODE, opBINUNICODE, opBINUNICODE8, 4, "str"}
	bytesOps = sizedOps{opSHORT_BINBYTES, opBINBYTES, opBINBYTES8, 3, "bytes"}
)

// sizedHeader fills hdr with the opcode and length CPython writes for n bytes of data:
// the one-byte length when it fits, else four bytes, else eight (protocol 4 and up).
func (e *encoder) sizedHeader(hdr *[9]byte, ops sizedOps, n int) ([]byte, error) {
	switch {
	case n < 256 && e.proto >= ops.shortFrom:
		hdr[0], hdr[1] = ops.short, byte(n)
		return hdr[:2], nil
	case uint64(n) <= math.MaxUint32:
		hdr[0] = ops.four
		binary.LittleEndian.PutUint32(hdr[1:], uint32(n))
		return hdr[:5], nil
	case e.proto >= 4:
		hdr[0] = ops.eight
		binary.LittleEndian.PutUint64(hdr[1:], uint64(n))
		return hdr[:9], nil
	}
	return nil, &EncodeError{Err: fmt.Errorf("a %s over 4 GiB needs protocol 4 or higher", ops.kind)}
}

// writeData writes a header and its payload, outside the frame when large.
func (e *encoder) writeData(h, data []byte) error {
	if len(data) >= frameSizeTarget && e.proto >= 4 {
		return e.writeLarge(h, data)
	}
	e.buf = append(e.buf, h...)
	e.buf = append(e.buf, data...)
	return nil
}

func (e *encoder) saveBytes(b []byte) error {
	key := bytesKeyOf(b)
	if e.seen(key) {
		return nil
	}
	if e.proto < 3 {
		// No bytes opcode before protocol 3: CPython reduces to
		// _codecs.encode(latin-1 text, "latin1"), or bytes() when empty.
		if len(b) == 0 {
			return e.saveReduceParts(Class{"builtins", "bytes"}, Tuple{}, key)
		}
		return e.saveReduceParts(Class{"_codecs", "encode"}, Tuple{latin1Text(b), latin1}, key)
	}
	n := len(b)
	var hdr [9]byte
	h, err := e.sizedHeader(&hdr, bytesOps, n)
	if err != nil {
		return err
	}
	if err := e.writeData(h, b); err != nil {
		return err
	}
	e.put(key)
	return nil
}

// latin1 is the one codec name string, so that the memo shares it as
// CPython shares its interned "latin1".
const latin1 = "latin1"

// latin1Text decodes b as Latin-1 into a UTF-8 Go string.
func latin1Text(b []byte) string {
	out := make([]byte, 0, len(b)+len(b)/4)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return string(out)
}

func (e *encoder) saveByteArray(b []byte, key memoKey) error {
	if e.seen(key) {
		return nil
	}
	if e.proto < 5 {
		if len(b) == 0 {
			return e.saveReduceParts(Class{"builtins", "bytearray"}, Tuple{}, key)
		}
		return e.saveReduceParts(Class{"builtins", "bytearray"}, Tuple{[]byte(b)}, key)
	}
	var hdr [9]byte
	hdr[0] = opBYTEARRAY8
	binary.LittleEndian.PutUint64(hdr[1:], uint64(len(b)))
	if err := e.writeData(hdr[:], b); err != nil {
		return err
	}
	e.put(key)
	return nil
}

func (e *encoder) savePickleBuffer(pb PickleBuffer) error {
	if e.proto < 5 {
		return &EncodeError{Err: errors.New("a PickleBuffer needs protocol 5")}
	}
	key := bytesKeyOf(pb.Data)
	key.kind = kindPointer
	if e.outOfBand != nil && e.outOfBand(pb) {
		e.buf = append(e.buf, opNEXT_BUFFER)
		if pb.ReadOnly {
			e.buf = append(e.buf, opREADONLY_BUFFER)
		}
		return nil
	}
	if pb.ReadOnly {
		return e.saveBytes(pb.Data)
	}
	return e.saveByteArray(pb.Data, key)
}

func (e *encoder) saveComplex(c complex128) error {
	return e.saveReduceParts(Class{"builtins", "complex"}, Tuple{real(c), imag(c)}, memoKey{})
}
