package workproto

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/pickle"
)

// Magic opens every hello frame.
const Magic = "GOMPXW1"

// Op is what a request asks for.
type Op byte

const (
	OpCall Op = 'C' // call once with a tuple of arguments
	OpMap  Op = 'M' // call once per tuple in a list, results in a list
)

// Reply statuses.
const (
	StatusResult byte = 'R'
	StatusError  byte = 'E'
)

const headerLen = 7

// ErrBadFrame reports a frame that does not follow the layout in doc.go.
var ErrBadFrame = errs.New("malformed worker protocol frame")

// Request is a parsed request frame; its slices alias the frame.
type Request struct {
	Op     Op
	Name   string
	Args   []byte
	Kwargs []byte // empty: no keyword arguments
}

// AppendRequest appends the request frame for op to dst.
func AppendRequest(dst []byte, op Op, name string, args, kwargs []byte) ([]byte, error) {
	if op != OpCall && op != OpMap {
		return dst, errs.Errorf("unknown op %q", byte(op))
	}
	if len(name) > math.MaxUint16 {
		return dst, errs.Errorf("function name of %d bytes is longer than %d", len(name), math.MaxUint16)
	}
	if uint64(len(args)) > math.MaxUint32 {
		return dst, errs.Errorf("arguments pickle of %d bytes is longer than 4 GiB", len(args))
	}
	var h [headerLen]byte
	h[0] = byte(op)
	binary.BigEndian.PutUint16(h[1:], uint16(len(name)))
	binary.BigEndian.PutUint32(h[3:], uint32(len(args)))
	dst = append(dst, h[:]...)
	dst = append(dst, name...)
	dst = append(dst, args...)
	return append(dst, kwargs...), nil
}

// ParseRequest reads a request frame.
func ParseRequest(frame []byte) (Request, error) {
	if len(frame) < headerLen {
		return Request{}, errs.Errorf("%w: request of %d bytes", ErrBadFrame, len(frame))
	}
	op := Op(frame[0])
	if op != OpCall && op != OpMap {
		return Request{}, errs.Errorf("%w: unknown op %q", ErrBadFrame, frame[0])
	}
	n := int(binary.BigEndian.Uint16(frame[1:]))
	a := uint64(binary.BigEndian.Uint32(frame[3:]))
	if uint64(len(frame)-headerLen) < uint64(n)+a {
		return Request{}, errs.Errorf("%w: name and arguments overrun the frame", ErrBadFrame)
	}
	end := headerLen + n + int(a)
	return Request{
		Op:     op,
		Name:   string(frame[headerLen : headerLen+n]),
		Args:   frame[headerLen+n : end],
		Kwargs: frame[end:],
	}, nil
}

// ParseReply splits a reply frame into its status and its pickle.
func ParseReply(frame []byte) (status byte, body []byte, err error) {
	if len(frame) < 1 || (frame[0] != StatusResult && frame[0] != StatusError) {
		return 0, nil, errs.Errorf("%w: reply does not start with 'R' or 'E'", ErrBadFrame)
	}
	return frame[0], frame[1:], nil
}

// ErrorInfo is what an 'E' reply carries.
type ErrorInfo struct {
	Module    string // module of the exception class ("builtins", "goserve")
	Name      string // qualified name of the class ("ValueError", "Error", "panic")
	Message   string // str() of the exception, or the Go error's text
	Traceback string // formatted traceback, or the Go stack of a panic; may be empty
	Index     int    // for a map, which call failed; -1 for a single call
}

// AppendErrorReply appends the 'E' reply frame for e to dst.
func AppendErrorReply(dst []byte, e ErrorInfo) ([]byte, error) {
	body, err := pickle.Marshal(pickle.Tuple{e.Module, e.Name, e.Message, e.Traceback, e.Index})
	if err != nil {
		return dst, errs.Errorf("encode error reply: %w", err)
	}
	return append(append(dst, StatusError), body...), nil
}

// DecodeError reads the pickle of an 'E' reply.
func DecodeError(body []byte) (ErrorInfo, error) {
	v, err := pickle.Unmarshal(body)
	if err != nil {
		return ErrorInfo{}, errs.Errorf("decode error reply: %w", err)
	}
	t, ok := v.(pickle.Tuple)
	if !ok || len(t) != 5 {
		return ErrorInfo{}, errs.Errorf("%w: error reply is not a 5-tuple", ErrBadFrame)
	}
	var e ErrorInfo
	var idx int64
	fields := []*string{&e.Module, &e.Name, &e.Message, &e.Traceback}
	for i, f := range fields {
		if *f, ok = t[i].(string); !ok {
			return ErrorInfo{}, errs.Errorf("%w: error reply field %d is not a str", ErrBadFrame, i)
		}
	}
	if idx, ok = t[4].(int64); !ok {
		return ErrorInfo{}, errs.Errorf("%w: error reply index is not an int", ErrBadFrame)
	}
	e.Index = int(idx)
	return e, nil
}

// Hello is what a worker announces when it starts.
type Hello struct {
	Pid       int
	Impl      string   // "python" or "go"
	Functions []string // the names a Go worker serves; nil for Python workers
}

// AppendHello appends the hello frame for h to dst.
func AppendHello(dst []byte, h Hello) ([]byte, error) {
	d := pickle.NewDict(3)
	names := make([]any, len(h.Functions))
	for i, n := range h.Functions {
		names[i] = n
	}
	for _, kv := range []pickle.Item{{Key: "pid", Value: h.Pid}, {Key: "impl", Value: h.Impl}, {Key: "functions", Value: names}} {
		if err := d.Set(kv.Key, kv.Value); err != nil {
			return dst, err
		}
	}
	body, err := pickle.Marshal(d)
	if err != nil {
		return dst, errs.Errorf("encode hello: %w", err)
	}
	return append(append(dst, Magic...), body...), nil
}

// ParseHello reads a hello frame.
func ParseHello(frame []byte) (Hello, error) {
	if !bytes.HasPrefix(frame, []byte(Magic)) {
		return Hello{}, errs.Errorf("%w: hello does not start with %q (is this a gompx worker?)", ErrBadFrame, Magic)
	}
	v, err := pickle.Unmarshal(frame[len(Magic):])
	if err != nil {
		return Hello{}, errs.Errorf("decode hello: %w", err)
	}
	d, ok := v.(*pickle.Dict)
	if !ok {
		return Hello{}, errs.Errorf("%w: hello is not a dict", ErrBadFrame)
	}
	var h Hello
	if pid, ok := d.Get("pid"); ok {
		p, _ := pid.(int64)
		h.Pid = int(p)
	}
	if impl, ok := d.Get("impl"); ok {
		h.Impl, _ = impl.(string)
	}
	if names, ok := d.Get("functions"); ok {
		list, _ := names.([]any)
		for _, n := range list {
			if s, ok := n.(string); ok {
				h.Functions = append(h.Functions, s)
			}
		}
	}
	return h, nil
}
