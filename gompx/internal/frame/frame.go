package frame

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/gompx/gompx/gompx/internal/errs"
)

// Header sizes and prefix values. See the table in the package comment.
const (
	PrefixSize = 4                       // the signed 32-bit prefix
	LengthSize = 8                       // the unsigned 64-bit length after a -1 or -2 prefix
	MaxSize    = PrefixSize + LengthSize // the longest header
	MaxShort   = math.MaxInt32           // the largest length carried by the prefix alone

	PrefixLong int32 = -1 // CPython: an 8-byte length follows, payload inline
	PrefixRing int32 = -2 // gompx: an 8-byte length follows, payload in the sender's ring
)

// Kind says where a frame's payload travels.
type Kind uint8

const (
	Inline Kind = iota // after the header, in the byte stream
	InRing             // through the sender's shared-memory ring
)

// ErrBadLength reports a header that no sender of this format produces.
var ErrBadLength = errs.New("frame: invalid length in header")

// Header is a buffer large enough for any header.
type Header [MaxSize]byte

// Put encodes the header of an n-byte payload of kind k into h and returns the used
// part. Inline payloads use the short form up to MaxShort bytes and the -1 form above,
// exactly as CPython does; ring payloads always use the -2 form. n must not be negative.
func (h *Header) Put(n int64, k Kind) []byte {
	if n < 0 {
		panic(fmt.Sprintf("frame: negative payload length %d", n))
	}
	if k == Inline && n <= MaxShort {
		binary.BigEndian.PutUint32(h[:PrefixSize], uint32(n))
		return h[:PrefixSize]
	}
	prefix := PrefixLong
	if k == InRing {
		prefix = PrefixRing
	}
	binary.BigEndian.PutUint32(h[:PrefixSize], uint32(prefix))
	binary.BigEndian.PutUint64(h[PrefixSize:], uint64(n))
	return h[:MaxSize]
}

// ParsePrefix decodes a 4-byte prefix. When more is true, LengthSize bytes follow and
// ParseLength gives the length; otherwise n is the length of an inline payload.
func ParsePrefix(p []byte) (n int64, k Kind, more bool, err error) {
	switch v := int32(binary.BigEndian.Uint32(p[:PrefixSize])); {
	case v >= 0:
		return int64(v), Inline, false, nil
	case v == PrefixLong:
		return 0, Inline, true, nil
	case v == PrefixRing:
		return 0, InRing, true, nil
	default:
		return 0, 0, false, errs.Errorf("%w: prefix %d", ErrBadLength, v)
	}
}

// ParseLength decodes the 8-byte length that follows a -1 or -2 prefix.
func ParseLength(p []byte) (int64, error) {
	v := binary.BigEndian.Uint64(p[:LengthSize])
	if v > math.MaxInt64 {
		return 0, errs.Errorf("%w: length %d", ErrBadLength, v)
	}
	return int64(v), nil
}

// ReadHeader reads exactly one header from r. A stream ending before the first byte
// gives io.EOF; one ending inside the header gives io.ErrUnexpectedEOF.
func ReadHeader(r io.Reader) (n int64, k Kind, err error) {
	var h Header
	if _, err := io.ReadFull(r, h[:PrefixSize]); err != nil {
		return 0, 0, err
	}
	n, k, more, err := ParsePrefix(h[:PrefixSize])
	if err != nil || !more {
		return n, k, err
	}
	if _, err := io.ReadFull(r, h[PrefixSize:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	n, err = ParseLength(h[PrefixSize:])
	return n, k, err
}
