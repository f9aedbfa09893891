package pickle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestNotAnOpcode(t *testing.T) {
	for _, in := range []string{"\xff", "\x80\x05\xff", "\x80\x09N.", "\x00", "\x99"} {
		_, err := Unmarshal([]byte(in))
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%q: %v, want a DecodeError", in, err)
		}
	}
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileInput feeds pickles built to hurt: lying lengths, sparse memo
// indices, deep nesting, exponential keys. Each returns an error or a small
// value without allocating out of proportion to its size.
func TestHostileInput(t *testing.T) {
	deepLists := strings.Repeat("]", 20000) + strings.Repeat("a", 19999) + "."
	deepTuples := "N" + strings.Repeat("\x85", 20000) + "."
	// t0 = (None, None); t(n+1) = (tn, tn); use t30 as a dict key.
	var expKey strings.Builder
	expKey.WriteString("\x80\x04}NN\x86\x940")
	for i := range 30 {
		fmt.Fprintf(&expKey, "h%ch%c\x86\x940", i, i)
	}
	expKey.WriteString("h\x1eK\x01s.")
	// 2000 dicts of two SETITEMS batches, each second batch guessing the
	// dict holds the rest of the input.
	manyGuesses := "\x80\x04]" + strings.Repeat("}(NNu(K\x01Nua", 2000) + "."
	cases := []struct {
		name string
		in   string
		ok   bool
	}{
		{"BINBYTES8 claims 2**62", "\x80\x05\x8e\x00\x00\x00\x00\x00\x00\x00\x40ab", false},
		{"BINUNICODE claims 4 GiB", "X\xff\xff\xff\xffab", false},
		{"LONG4 claims 2 GiB", "\x8b\xff\xff\xff\x7f\x01", false},
		{"FRAME claims 2**63", "\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7fN.", true},
		{"sparse memo", "N" + "r\xff\xff\xff\xff" + "j\xff\xff\xff\xff" + ".", true},
		{"GET of a missing key", "j\x05\x00\x00\x00.", false},
		{"deep lists", deepLists, false},
		{"deep tuples", deepTuples, false},
		{"exponential tuple key", expKey.String(), false},
		{"dicts guessing their size", manyGuesses, true},
		{"APPEND to an int", "K\x01K\x02a.", false},
		{"SETITEM with a list key", "}]K\x01s.", false},
		{"REDUCE with non-tuple args", "cos\nsystem\nK\x01R.", false},
		{"STOP on an empty stack", ".", false},
		{"MARK then STOP", "(.", false},
		{"huge text int", "L" + strings.Repeat("9", 100000) + "L\n.", false},
		{"persistent id", "Pfoo\n.", false},
	}
	for _, c := range cases {
		var err error
		n := allocated(func() { _, err = Unmarshal([]byte(c.in)) })
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok=%v", c.name, err, c.ok)
		}
		if limit := uint64(1<<20 + 128*len(c.in)); n > limit {
			t.Errorf("%s: allocated %d bytes for %d bytes of input", c.name, n, len(c.in))
		}
		// The same through a stream, which must not trust lengths either.
		n = allocated(func() { _, err = NewDecoder(strings.NewReader(c.in), nil).Decode() })
		if (err == nil) != c.ok {
			t.Errorf("%s streamed: error %v, want ok=%v", c.name, err, c.ok)
		}
		if limit := uint64(1<<20 + 128*len(c.in)); n > limit {
			t.Errorf("%s streamed: allocated %d bytes for %d bytes of input", c.name, n, len(c.in))
		}
	}
}

// TestUnknownClasses checks that exceptions and user classes decode inert,
// never as an error and never as a call.
func TestUnknownClasses(t *testing.T) {
	// os.system("echo hi"), as an attacker would write it.
	v, err := Unmarshal([]byte("cos\nsystem\n(S'echo hi'\ntR."))
	if err != nil {
		t.Fatal(err)
	}
	obj, ok := v.(*Object)
	if !ok || obj.Class != (Class{"os", "system"}) || obj.Args[0] != "echo hi" {
		t.Fatalf("got %#v", v)
	}
	// NEWOBJ_EX with keyword arguments, then BUILD with a (dict, slots) state.
	v, err = Unmarshal([]byte("\x80\x04\x8c\x01m\x8c\x01K\x93)}\x8c\x01a\x94K\x01s\x92}N\x86b."))
	if err != nil {
		t.Fatal(err)
	}
	obj = v.(*Object)
	if !obj.New || obj.Kwargs.Len() != 1 || obj.State == nil {
		t.Errorf("got %s", describe(obj))
	}
}

type valueError struct{ msg string }

func TestRegistry(t *testing.T) {
	reg := NewRegistry()
	reg.Register("builtins", "ValueError", func(o *Object) (any, error) {
		if len(o.Args) != 1 {
			return nil, errors.New("want one argument")
		}
		msg, _ := o.Args[0].(string)
		return &valueError{msg}, nil
	})
	data, err := Marshal(Tuple{int64(0), []any{&Object{Class: Class{"builtins", "ValueError"}, Args: Tuple{"boom"}}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := UnmarshalOptions(data, &DecoderOptions{Classes: reg})
	if err != nil {
		t.Fatal(err)
	}
	got := v.(Tuple)[1].([]any)[0]
	if ve, ok := got.(*valueError); !ok || ve.msg != "boom" {
		t.Errorf("got %#v", got)
	}
	bad, _ := Marshal(&Object{Class: Class{"builtins", "ValueError"}})
	if _, err := UnmarshalOptions(bad, &DecoderOptions{Classes: reg}); err == nil || !strings.Contains(err.Error(), "want one argument") {
		t.Errorf("a failing registered decoder gives %v", err)
	}
}

func TestOutOfBandBuffers(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 1<<16)
	var sent [][]byte
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, &EncoderOptions{OutOfBand: func(b PickleBuffer) bool {
		sent = append(sent, b.Data)
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(Tuple{PickleBuffer{Data: big, ReadOnly: true}, PickleBuffer{Data: []byte("w")}}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 64 || len(sent) != 2 {
		t.Fatalf("pickle of %d bytes, %d buffers out of band", buf.Len(), len(sent))
	}
	if _, err := Unmarshal(buf.Bytes()); err == nil {
		t.Error("NEXT_BUFFER without buffers decoded")
	}
	v, err := NewDecoder(&buf, &DecoderOptions{Buffers: sent}).Decode()
	if err != nil {
		t.Fatal(err)
	}
	tup := v.(Tuple)
	if pb := tup[0].(PickleBuffer); !pb.ReadOnly || !bytes.Equal(pb.Data, big) {
		t.Error("read-only buffer did not come back")
	}
	if pb := tup[1].(PickleBuffer); pb.ReadOnly || string(pb.Data) != "w" {
		t.Error("writable buffer did not come back")
	}
	if _, err := MarshalProtocol(PickleBuffer{Data: big}, 4); err == nil {
		t.Error("a PickleBuffer at protocol 4 encoded")
	}
}

func TestUnsupportedTypePath(t *testing.T) {
	type inner struct{ F func() }
	_, err := Marshal(map[string]any{"k": []any{int64(1), inner{}}})
	var ee *EncodeError
	if !errors.As(err, &ee) || !errors.Is(err, ErrUnsupportedType) {
		t.Fatalf("got %v", err)
	}
	if ee.Path != `["k"][1].F` || ee.Type.String() != "func()" {
		t.Errorf("path %q type %v; message %q", ee.Path, ee.Type, err)
	}
	if _, err := Marshal(make(chan int)); err == nil || !strings.Contains(err.Error(), "chan int at the top level") {
		t.Errorf("got %v", err)
	}
	if _, err := Marshal(mustDict(Tuple{int64(1)}, make(chan int))); err == nil || !strings.Contains(err.Error(), "[pickle.Tuple{1}]") {
		t.Errorf("got %v", err)
	}
}

func TestDecoderStream(t *testing.T) {
	var buf bytes.Buffer
	enc, _ := NewEncoder(&buf, &EncoderOptions{Protocol: 2})
	for i := range 3 {
		if err := enc.Encode([]any{int64(i), "x"}); err != nil {
			t.Fatal(err)
		}
	}
	dec := NewDecoder(&buf, nil)
	for i := range 3 {
		v, err := dec.Decode()
		if err != nil || v.([]any)[0] != int64(i) {
			t.Fatalf("pickle %d: %v, %v", i, v, err)
		}
	}
	if _, err := dec.Decode(); err != io.EOF {
		t.Errorf("after the last pickle: %v, want io.EOF", err)
	}
}

// TestMemoizeAfterSparsePut: MEMOIZE writes at the number of memo entries,
// as CPython does, not after the dense prefix. Found by the differential
// check against gopickle; CPython loads both as shown.
func TestMemoizeAfterSparsePut(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Nq\x02]\x94h\x01.", "[]"},                         // BINPUT 2, MEMOIZE -> 1
		{"Nq\x02K\x05q\x00K\x06\x94h\x02.", "i6"},           // BINPUT 2, BINPUT 0, MEMOIZE -> 2 (replacing None)
		{"Nq\x01K\x05q\x00K\x06q\x01K\x07\x94h\x02.", "i7"}, // 1, 0, 1 again: two entries, MEMOIZE -> 2
	} {
		v, err := Unmarshal([]byte(c.in))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
		} else if d := describe(v); d != c.want {
			t.Errorf("%q gives %s, want %s", c.in, d, c.want)
		}
	}
}

// TestAliasInput checks that AliasInput returns bytes as capped slices of the
// input, and copies without it or from a stream.
func TestAliasInput(t *testing.T) {
	payload := bytes.Repeat([]byte{'x'}, 100000)
	data, err := Marshal(Tuple{payload, ByteArray("ab"), "cd"})
	if err != nil {
		t.Fatal(err)
	}
	shares := func(b []byte) bool {
		return len(b) > 0 && &b[0] == &data[bytes.Index(data, payload)]
	}
	v, err := UnmarshalOptions(data, &DecoderOptions{AliasInput: true})
	if err != nil {
		t.Fatal(err)
	}
	got := v.(Tuple)[0].([]byte)
	if !shares(got) || cap(got) != len(payload) || !bytes.Equal(got, payload) {
		t.Errorf("AliasInput: bytes not a capped slice of the input (cap %d)", cap(got))
	}
	after := bytes.Index(data, payload) + len(payload)
	if next := data[after]; append(got, 'y')[0] != 'x' || data[after] != next {
		t.Errorf("appending to the value wrote into the input")
	}
	if describe(v) != describe(Tuple{payload, ByteArray("ab"), "cd"}) {
		t.Errorf("AliasInput gives %s", describe(v))
	}
	v, _ = Unmarshal(data)
	if shares(v.(Tuple)[0].([]byte)) {
		t.Errorf("Unmarshal shares the input's memory")
	}
	v, _ = NewDecoder(bytes.NewReader(data), &DecoderOptions{AliasInput: true}).Decode()
	if shares(v.(Tuple)[0].([]byte)) {
		t.Errorf("a streaming Decoder shares its window's memory")
	}
}

// TestHostileAfterStream checks that a Decoder bounds what a pickle may
// allocate by that pickle's bytes, not by all the stream before it.
func TestHostileAfterStream(t *testing.T) {
	big, err := Marshal(bytes.Repeat([]byte{'x'}, 4<<20))
	if err != nil {
		t.Fatal(err)
	}
	hostile := "\x80\x04]" + strings.Repeat("}(NNu(K\x01Nua", 2000) + "."
	dec := NewDecoder(io.MultiReader(bytes.NewReader(big), strings.NewReader(hostile)), nil)
	if _, err := dec.Decode(); err != nil {
		t.Fatal(err)
	}
	n := allocated(func() { _, err = dec.Decode() })
	if err != nil {
		t.Fatal(err)
	}
	if limit := uint64(1<<20 + 128*len(hostile)); n > limit {
		t.Errorf("allocated %d bytes for %d bytes of input after %d bytes of stream", n, len(hostile), len(big))
	}
}
