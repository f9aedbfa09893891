package pickle

import (
	"encoding/binary"
	"math"
	"sync"
)

// ConcatList appends to dst one protocol 5 pickle of a list whose items are the values
// of the given pickles, without decoding them: each item's opcodes are copied between
// one MARK and APPENDS, minus its PROTO, FRAME and STOP. Loading the result gives what
// loading each pickle in turn would give.
//
// That holds only for pickles that never read their memo (no GET, BINGET, LONG_BINGET):
// their memo indices would change. CPython's C pickler writes memo reads only for an
// object seen twice in one pickle; ints, floats, strs, bytes and the tuples, lists and
// dicts built from distinct ones have none. ConcatList reports false, and dst is to be
// ignored, when an item has memo reads, puts with explicit indices, persistent ids,
// out-of-band buffers, or anything it cannot walk.
//
// gompx's queue uses it to hand a batch of messages to Python as one loads() call.
func ConcatList(dst []byte, items [][]byte) ([]byte, bool) {
	dst = append(dst, opPROTO, 5, opEMPTY_LIST, opMARK)
	for _, item := range items {
		var ok bool
		if dst, ok = appendOpcodes(dst, item); !ok {
			return dst, false
		}
	}
	return append(dst, opAPPENDS, opSTOP), true
}

// ConcatInPlace replaces the count pickles lying back to back at the start of buf, the
// i-th of them size(i) bytes long, with ConcatList's pickle of the list of them, and
// returns its length. When ConcatList cannot join them, or the joined pickle would not
// fit in buf, it returns false and buf is as it was.
//
// gompx's queue (a batch of messages) and pool (a batch of results) use it so that
// Python loads a batch with one loads() call.
func ConcatInPlace(buf []byte, count int, size func(i int) int) (int, bool) {
	jb := concatBuffers.Get().(*concatBuffer)
	defer concatBuffers.Put(jb)
	items := jb.items[:0]
	at := 0
	for i := 0; i < count; i++ {
		n := size(i)
		if n < 0 || at+n > len(buf) {
			return 0, false
		}
		items = append(items, buf[at:at+n])
		at += n
	}
	joined, ok := ConcatList(jb.joined[:0], items)
	clear(items)
	jb.items, jb.joined = items[:0], joined[:0]
	if !ok || len(joined) > len(buf) {
		return 0, false
	}
	return copy(buf, joined), true
}

// concatBuffers keep ConcatInPlace's memory from one call to the next: a batch of small
// messages would otherwise allocate a few bytes per message per call, and the
// collector's work on that cost more than the batch itself.
var concatBuffers = sync.Pool{New: func() any { return new(concatBuffer) }}

type concatBuffer struct {
	items  [][]byte
	joined []byte
}

// appendOpcodes appends the opcodes of one whole pickle, minus PROTO, FRAME and STOP.
func appendOpcodes(dst, p []byte) ([]byte, bool) {
	for i := 0; i < len(p); {
		op := p[i]
		n, ok := opcodeLength(p[i:])
		if !ok {
			return dst, false
		}
		switch op {
		case opSTOP:
			return dst, i+1 == len(p)
		case opPROTO, opFRAME:
		case opGET, opBINGET, opLONG_BINGET, opPUT, opBINPUT, opLONG_BINPUT,
			opPERSID, opBINPERSID, opNEXT_BUFFER, opREADONLY_BUFFER:
			return dst, false
		default:
			dst = append(dst, p[i:i+n]...)
		}
		i += n
	}
	return dst, false // no STOP
}

// opcodeLength is the length of the opcode at the start of p with its argument.
func opcodeLength(p []byte) (int, bool) {
	switch p[0] {
	case opMARK, opSTOP, opPOP, opPOP_MARK, opDUP, opNONE, opBINPERSID, opREDUCE,
		opAPPEND, opBUILD, opDICT, opEMPTY_DICT, opAPPENDS, opLIST, opEMPTY_LIST, opOBJ,
		opSETITEM, opTUPLE, opEMPTY_TUPLE, opSETITEMS, opNEWOBJ, opTUPLE1, opTUPLE2,
		opTUPLE3, opNEWTRUE, opNEWFALSE, opEMPTY_SET, opADDITEMS, opFROZENSET,
		opNEWOBJ_EX, opSTACK_GLOBAL, opMEMOIZE, opNEXT_BUFFER, opREADONLY_BUFFER:
		return 1, true
	case opBININT1, opPROTO, opEXT1, opBINGET, opBINPUT:
		return fixed(p, 1)
	case opBININT2, opEXT2:
		return fixed(p, 2)
	case opBININT, opEXT4, opLONG_BINGET, opLONG_BINPUT:
		return fixed(p, 4)
	case opBINFLOAT, opFRAME:
		return fixed(p, 8)
	case opSHORT_BINSTRING, opSHORT_BINBYTES, opSHORT_BINUNICODE, opLONG1:
		if len(p) < 2 {
			return 0, false
		}
		return fixed(p, 1+int(p[1]))
	case opBINSTRING, opBINUNICODE, opBINBYTES, opLONG4:
		if len(p) < 5 {
			return 0, false
		}
		n := int32(binary.LittleEndian.Uint32(p[1:]))
		if n < 0 {
			return 0, false
		}
		return fixed(p, 4+int(n))
	case opBINUNICODE8, opBINBYTES8, opBYTEARRAY8:
		if len(p) < 9 {
			return 0, false
		}
		n := binary.LittleEndian.Uint64(p[1:])
		if n > math.MaxInt32 {
			return 0, false
		}
		return fixed(p, 8+int(n))
	case opINT, opLONG, opFLOAT, opSTRING, opUNICODE, opPERSID, opGET, opPUT:
		return lines(p, 1)
	case opGLOBAL, opINST:
		return lines(p, 2)
	}
	return 0, false
}

// fixed is the length of an opcode with an n-byte argument, if p holds it all.
func fixed(p []byte, n int) (int, bool) {
	return 1 + n, len(p) >= 1+n
}

// lines is the length of an opcode whose argument is count newline-ended lines.
func lines(p []byte, count int) (int, bool) {
	i := 1
	for ; count > 0; count-- {
		for i < len(p) && p[i] != '\n' {
			i++
		}
		if i == len(p) {
			return 0, false
		}
		i++
	}
	return i, true
}
