package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"sync"
)

// DecoderOptions configure a Decoder; the zero value is usable.
type DecoderOptions struct {
	// Classes maps chosen Python classes to Go values; instances of other
	// classes decode to *Object.
	Classes *Registry
	// Buffers are the out-of-band buffers of a protocol 5 pickle, taken in
	// order by NEXT_BUFFER.
	Buffers [][]byte
	// AliasInput lets UnmarshalOptions return Python bytes values as
	// slices of its data argument, capped at their length, instead of
	// copies: a large payload then costs neither a copy nor an allocation.
	// The caller must not modify data while it uses the value. A Decoder
	// reading a stream ignores it, and bytearray and str values are always
	// copied.
	AliasInput bool
}

// DecodeError reports malformed or unsupported input: where, in which
// opcode, and what went wrong. Truncated input wraps io.ErrUnexpectedEOF.
type DecodeError struct {
	Offset int64  // byte offset of the opcode in the pickle
	Op     string // pickletools name of the opcode, or a quoted byte
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("pickle: at byte %d (%s): %v", e.Offset, e.Op, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Unmarshal decodes one pickle of any protocol 0-5 from data. Bytes after
// the STOP opcode are ignored, as CPython's pickle.loads ignores them.
func Unmarshal(data []byte) (any, error) {
	return unmarshal(data, nil)
}

// UnmarshalOptions is Unmarshal with options.
func UnmarshalOptions(data []byte, opts *DecoderOptions) (any, error) {
	return unmarshal(data, opts)
}

// scratch is the part of a decoder's state that Unmarshal keeps between
// calls: the stack, the marks and the memo. A pooled scratch is cleared: it
// holds no decoded value alive.
type scratch struct {
	stack []any
	marks []mark
	memo  []any
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Bounds on what a pooled scratch keeps (256 KiB of stack, 2 MiB of memo).
const (
	maxPooledStack = 1 << 14
	maxPooledMemo  = 1 << 17
)

func unmarshal(data []byte, opts *DecoderOptions) (any, error) {
	s := scratchPool.Get().(*scratch)
	d := decoder{data: data, stack: s.stack, marks: s.marks, memo: s.memo}
	if opts != nil {
		d.opts = *opts
	}
	v, err := d.load()
	d.clearScratch()
	if cap(d.stack) <= maxPooledStack && cap(d.memo) <= maxPooledMemo {
		*s = scratch{d.stack, d.marks, d.memo}
		scratchPool.Put(s)
	}
	return v, err
}

// clearScratch drops the references the stack and memo hold, leaving them
// empty with their capacity.
func (d *decoder) clearScratch() {
	clear(d.stack[:max(d.stackHigh, len(d.stack))])
	clear(d.memo)
	d.stack, d.marks, d.memo, d.stackHigh = d.stack[:0], d.marks[:0], d.memo[:0], 0
}

// Decoder reads pickles from an io.Reader, one per Decode call. It reads
// ahead in chunks, so it may consume bytes past the end of a pickle: use one
// Decoder for the whole stream.
type Decoder struct {
	d decoder
}

// NewDecoder returns a Decoder reading from r. A nil opts means the defaults.
func NewDecoder(r io.Reader, opts *DecoderOptions) *Decoder {
	dec := &Decoder{d: decoder{r: r}}
	if opts != nil {
		dec.d.opts = *opts
	}
	return dec
}

// Decode returns the next pickle's value. At a clean end of stream, before
// any byte of a new pickle, it returns io.EOF.
func (dec *Decoder) Decode() (any, error) {
	d := &dec.d
	if d.pos == len(d.data) {
		if err := d.fill(1); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, io.EOF
			}
			return nil, err
		}
	}
	d.reset()
	d.start = d.offset()
	return d.load()
}

// decoder is the state of one pickle being read: the input window, the
// Python stack with its marks, and the memo.
type decoder struct {
	opts  DecoderOptions
	r     io.Reader // nil: data is the whole input
	data  []byte
	pos   int
	base  int64 // stream offset of data[0]
	start int64 // stream offset of this pickle's first byte

	proto     int
	stack     []any
	stackHigh int // the stack's height before its last cut, for clearScratch
	marks     []mark
	markAt    int64 // input offset of the MARK popMark last removed
	memo      []any
	memoMap   map[uint64]any // memo indices beyond the dense prefix
	nbuffers  int            // out-of-band buffers used

	keyBytes   int  // bytes spent on tuple dict keys, bounded by the input size
	spareItems int  // dict capacity reserved ahead of need, bounded by the input size
	needWalk   bool // lists or objects were made: finish() must walk the value
	containers int
}

func (d *decoder) reset() {
	d.clearScratch()
	d.proto, d.memoMap = 0, nil
	d.nbuffers, d.keyBytes, d.spareItems, d.needWalk, d.containers = 0, 0, 0, false, 0
}

func (d *decoder) offset() int64 { return d.base + int64(d.pos) }

// read is how many bytes of input the decoder holds for this pickle: those
// decoded so far and those read ahead. Work and memory the input has not
// paid for are bounded by it.
func (d *decoder) read() int { return int(d.offset()-d.start) + len(d.data) - d.pos }

// fill makes n bytes available at d.pos, reading from the stream in chunks
// so that a length field claiming more than the input holds costs nothing.
func (d *decoder) fill(n int) error {
	if len(d.data)-d.pos >= n {
		return nil
	}
	if d.r == nil || n < 0 {
		return io.ErrUnexpectedEOF
	}
	if d.pos > 0 {
		rest := copy(d.data, d.data[d.pos:])
		d.base += int64(d.pos)
		d.data, d.pos = d.data[:rest], 0
	}
	for len(d.data) < n {
		// Grow by at most what has already arrived, so that a length
		// field alone never buys memory.
		want := max(min(n-len(d.data), len(d.data)), 4096)
		if cap(d.data)-len(d.data) < want {
			grown := make([]byte, len(d.data), len(d.data)+want)
			copy(grown, d.data)
			d.data = grown
		}
		m, err := d.r.Read(d.data[len(d.data):cap(d.data)])
		d.data = d.data[:len(d.data)+m]
		if err != nil && len(d.data) < n {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// next returns the next n input bytes, valid until the next read.
func (d *decoder) next(n int) ([]byte, error) {
	if err := d.fill(n); err != nil {
		return nil, err
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *decoder) nextByte() (byte, error) {
	if d.pos < len(d.data) {
		c := d.data[d.pos]
		d.pos++
		return c, nil
	}
	b, err := d.next(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// line returns the text up to a newline, without it.
func (d *decoder) line() ([]byte, error) {
	for scanned := 0; ; {
		if i := bytes.IndexByte(d.data[d.pos+scanned:], '\n'); i >= 0 {
			b := d.data[d.pos : d.pos+scanned+i]
			d.pos += scanned + i + 1
			return b, nil
		}
		scanned = len(d.data) - d.pos
		if err := d.fill(scanned + 1); err != nil {
			return nil, err
		}
	}
}

// length reads an unsigned little-endian length of size bytes and checks it
// against what an int can index.
func (d *decoder) length(size int) (int, error) {
	b, err := d.next(size)
	if err != nil {
		return 0, err
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[0])
	case 4:
		n = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		n = binary.LittleEndian.Uint64(b)
	}
	if n > uint64(math.MaxInt)/2 {
		return 0, fmt.Errorf("length %d is too large", n)
	}
	return int(n), nil
}

// mark is a MARK on the stack: the stack height, and where in the input the
// MARK was (which tells how many bytes the items above it took).
type mark struct {
	height int
	at     int64
}

func (d *decoder) push(v any) { d.stack = append(d.stack, v) }

// cut shortens the stack to n items, remembering the height clearScratch
// must clear up to.
func (d *decoder) cut(n int) {
	d.stackHigh = max(d.stackHigh, len(d.stack))
	d.stack = d.stack[:n]
}

// fence is the stack height below which pops may not reach: the last mark.
func (d *decoder) fence() int {
	if len(d.marks) == 0 {
		return 0
	}
	return d.marks[len(d.marks)-1].height
}

var errUnderflow = errors.New("stack underflow")

func (d *decoder) pop() (any, error) {
	if len(d.stack) <= d.fence() {
		return nil, errUnderflow
	}
	v := d.stack[len(d.stack)-1]
	d.cut(len(d.stack) - 1)
	return v, nil
}

func (d *decoder) top() (any, error) {
	if len(d.stack) <= d.fence() {
		return nil, errUnderflow
	}
	return d.stack[len(d.stack)-1], nil
}

// popMark removes the items above the last mark, and the mark, and returns
// them; the slice is valid until the next push.
func (d *decoder) popMark() ([]any, error) {
	if len(d.marks) == 0 {
		return nil, errors.New("no MARK for this opcode")
	}
	m := d.marks[len(d.marks)-1]
	d.marks = d.marks[:len(d.marks)-1]
	d.markAt = m.at
	items := d.stack[m.height:]
	d.cut(m.height)
	return items, nil
}

// memoPut sets memo[idx]. An index is in the dense prefix or in memoMap,
// never both, so that memoLen counts each index once.
func (d *decoder) memoPut(idx uint64, v any) {
	switch {
	case idx < uint64(len(d.memo)):
		d.memo[idx] = v
	case idx == uint64(len(d.memo)):
		d.memo = append(d.memo, v)
		delete(d.memoMap, idx)
	default:
		if d.memoMap == nil {
			d.memoMap = make(map[uint64]any)
		}
		d.memoMap[idx] = v
	}
}

// memoLen is the number of memo indices set: where MEMOIZE writes, as
// CPython's memo_len (not the highest index plus one).
func (d *decoder) memoLen() uint64 { return uint64(len(d.memo) + len(d.memoMap)) }

func (d *decoder) memoGet(idx uint64) error {
	if idx < uint64(len(d.memo)) {
		d.push(d.memo[idx])
		return nil
	}
	if v, ok := d.memoMap[idx]; ok {
		d.push(v)
		return nil
	}
	return fmt.Errorf("memo key %d not found", idx)
}

// load runs the opcode loop up to STOP.
func (d *decoder) load() (any, error) {
	for {
		at := d.offset()
		op, err := d.nextByte()
		if err != nil {
			return nil, &DecodeError{Offset: at, Op: "end of input", Err: err}
		}
		if op == opSTOP {
			v, err := d.pop()
			if err == nil {
				v, err = d.finish(v)
			}
			if err != nil {
				return nil, &DecodeError{Offset: at, Op: "STOP", Err: err}
			}
			return v, nil
		}
		if err := d.step(op); err != nil {
			name := opNames[op]
			if name == "" {
				name = fmt.Sprintf("byte %#02x", op)
			}
			return nil, &DecodeError{Offset: at, Op: name, Err: err}
		}
	}
}

// step runs one opcode other than STOP.
func (d *decoder) step(op byte) error {
	switch op {
	case opPROTO:
		b, err := d.nextByte()
		if err != nil {
			return err
		}
		if b > HighestProtocol {
			return fmt.Errorf("unsupported pickle protocol %d", b)
		}
		d.proto = int(b)
	case opFRAME:
		// Frames only group opcodes for buffered reading; the loop reads
		// the same bytes either way, so the length is skipped, not trusted.
		_, err := d.next(8)
		return err
	case opNONE:
		d.push(nil)
	case opNEWTRUE:
		d.push(true)
	case opNEWFALSE:
		d.push(false)
	case opBININT1:
		b, err := d.nextByte()
		if err != nil {
			return err
		}
		d.push(int64(b))
	case opBININT2:
		b, err := d.next(2)
		if err != nil {
			return err
		}
		d.push(int64(binary.LittleEndian.Uint16(b)))
	case opBININT:
		b, err := d.next(4)
		if err != nil {
			return err
		}
		d.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case opLONG1, opLONG4:
		return d.loadLong(op)
	case opBINFLOAT:
		b, err := d.next(8)
		if err != nil {
			return err
		}
		d.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opINT, opLONG, opFLOAT:
		return d.loadTextNumber(op)
	case opSHORT_BINUNICODE:
		// The commonest opcode of all, read in place when its bytes are
		// already in the window.
		if p := d.pos; p < len(d.data) {
			if end := p + 1 + int(d.data[p]); end <= len(d.data) {
				d.push(string(d.data[p+1 : end]))
				d.pos = end
				return nil
			}
		}
		return d.loadBinaryData(op)
	case opBINUNICODE, opBINUNICODE8,
		opSHORT_BINBYTES, opBINBYTES, opBINBYTES8, opBYTEARRAY8,
		opSHORT_BINSTRING, opBINSTRING:
		return d.loadBinaryData(op)
	case opSTRING, opUNICODE:
		return d.loadTextString(op)
	case opMARK:
		d.marks = append(d.marks, mark{len(d.stack), d.offset() - 1})
	case opPOP:
		if len(d.stack) > d.fence() {
			d.cut(len(d.stack) - 1)
		} else if len(d.marks) > 0 {
			d.marks = d.marks[:len(d.marks)-1]
		} else {
			return errUnderflow
		}
	case opPOP_MARK:
		_, err := d.popMark()
		return err
	case opDUP:
		v, err := d.top()
		if err != nil {
			return err
		}
		d.push(v)
	default:
		return d.stepContainer(op)
	}
	return nil
}

func (d *decoder) loadLong(op byte) error {
	size := 1
	if op == opLONG4 {
		size = 4
	}
	n, err := d.length(size)
	if err != nil {
		return err
	}
	if op == opLONG4 && n > math.MaxInt32 {
		return errors.New("LONG4 with a negative byte count")
	}
	b, err := d.next(n)
	if err != nil {
		return err
	}
	d.push(decodeLong(b))
	return nil
}

// decodeLong reads a two's complement little-endian int.
func decodeLong(b []byte) any {
	if len(b) <= 8 {
		var u uint64
		for i := len(b) - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		if len(b) > 0 && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
			u |= ^uint64(0) << (8 * len(b)) // sign-extend
		}
		return int64(u)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

// pyNaN is the bit pattern of CPython's float("nan").
const pyNaN = 0x7ff8000000000000

// maxIntDigits is CPython's default limit on decimal digits in an int read
// from text (sys.int_info.default_max_str_digits); it also keeps parsing
// linear.
const maxIntDigits = 4300

func (d *decoder) loadTextNumber(op byte) error {
	line, err := d.line()
	if err != nil {
		return err
	}
	s := string(bytes.TrimSpace(line))
	switch op {
	case opFLOAT:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("bad float %q", s)
		}
		if f != f {
			f = math.Float64frombits(pyNaN) // Python's float("nan"), not Go's
		}
		d.push(f)
		return nil
	case opINT:
		switch s {
		case "00":
			d.push(false)
			return nil
		case "01":
			d.push(true)
			return nil
		}
	case opLONG:
		if len(s) > 0 && s[len(s)-1] == 'L' {
			s = s[:len(s)-1]
		}
	}
	v, err := parseInt(s)
	if err != nil {
		return err
	}
	d.push(v)
	return nil
}

func parseInt(s string) (any, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	if len(s) > maxIntDigits {
		return nil, fmt.Errorf("int of %d digits exceeds the limit of %d", len(s), maxIntDigits)
	}
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("bad int %q", s)
	}
	return x, nil
}

func (d *decoder) loadBinaryData(op byte) error {
	size := 4
	switch op {
	case opSHORT_BINUNICODE, opSHORT_BINBYTES, opSHORT_BINSTRING:
		size = 1
	case opBINUNICODE8, opBINBYTES8, opBYTEARRAY8:
		size = 8
	}
	n, err := d.length(size)
	if err != nil {
		return err
	}
	if op == opBINSTRING && n > math.MaxInt32 {
		return errors.New("BINSTRING with a negative length")
	}
	b, err := d.next(n)
	if err != nil {
		return err
	}
	switch op {
	case opSHORT_BINBYTES, opBINBYTES, opBINBYTES8:
		if d.opts.AliasInput && d.r == nil {
			d.push(b[:n:n])
		} else {
			d.push(append([]byte{}, b...))
		}
	case opBYTEARRAY8:
		d.push(ByteArray(append([]byte{}, b...)))
	default:
		d.push(string(b))
	}
	return nil
}
