package workproto

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRequestLayout(t *testing.T) {
	cases := []struct {
		op           Op
		name         string
		args, kwargs []byte
		want         []byte
	}{
		{OpCall, "m:f", []byte{0x80}, nil, []byte("C\x00\x03\x00\x00\x00\x01m:f\x80")},
		{OpMap, "sha256", []byte("AB"), []byte("K"), []byte("M\x00\x06\x00\x00\x00\x02sha256ABK")},
		{OpCall, "", nil, nil, []byte("C\x00\x00\x00\x00\x00\x00")},
	}
	for _, c := range cases {
		got, err := AppendRequest(nil, c.op, c.name, c.args, c.kwargs)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("AppendRequest(%c, %q) = %q, %v; want %q", c.op, c.name, got, err, c.want)
			continue
		}
		r, err := ParseRequest(got)
		if err != nil || r.Op != c.op || r.Name != c.name || !bytes.Equal(r.Args, c.args) || !bytes.Equal(r.Kwargs, c.kwargs) {
			t.Errorf("ParseRequest(%q) = %+v, %v", got, r, err)
		}
		for n := 0; n < headerLen+len(c.name)+len(c.args); n++ {
			if _, err := ParseRequest(got[:n]); !errors.Is(err, ErrBadFrame) {
				t.Errorf("ParseRequest of %d of %d bytes: %v, want ErrBadFrame", n, len(got), err)
			}
		}
	}
}

func TestBadRequests(t *testing.T) {
	if _, err := AppendRequest(nil, 'X', "f", nil, nil); err == nil {
		t.Error("unknown op accepted")
	}
	if _, err := AppendRequest(nil, OpCall, strings.Repeat("x", 1<<16), nil, nil); err == nil {
		t.Error("name over 64 KiB accepted")
	}
	if _, err := ParseRequest([]byte("X\x00\x00\x00\x00\x00\x00")); !errors.Is(err, ErrBadFrame) {
		t.Errorf("unknown op parsed: %v", err)
	}
}

func TestErrorReplyRoundTrip(t *testing.T) {
	for _, e := range []ErrorInfo{
		{"builtins", "ValueError", "boom", "Traceback...\n", -1},
		{"goserve", "Error", "", "", 41},
	} {
		frame, err := AppendErrorReply(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		status, body, err := ParseReply(frame)
		if err != nil || status != StatusError {
			t.Fatalf("ParseReply: %c, %v", status, err)
		}
		got, err := DecodeError(body)
		if err != nil || got != e {
			t.Errorf("round trip of %+v = %+v, %v", e, got, err)
		}
	}
	if _, _, err := ParseReply([]byte("X")); !errors.Is(err, ErrBadFrame) {
		t.Errorf("reply with bad status: %v", err)
	}
	if _, _, err := ParseReply(nil); !errors.Is(err, ErrBadFrame) {
		t.Errorf("empty reply: %v", err)
	}
	if _, err := DecodeError([]byte("\x80\x05N.")); !errors.Is(err, ErrBadFrame) {
		t.Errorf("error reply of None: %v", err)
	}
}

func TestHello(t *testing.T) {
	h := Hello{Pid: 42, Impl: "go", Functions: []string{"sha256", "wordcount"}}
	frame, err := AppendHello(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseHello(frame)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(h) {
		t.Fatalf("hello round trip = %+v, %v", got, err)
	}
	if _, err := ParseHello([]byte("HTTP/1.1 200 OK")); !errors.Is(err, ErrBadFrame) {
		t.Errorf("foreign first frame: %v", err)
	}
}

// A worker needs the layout and nothing else: a call request, its reply.
func ExampleAppendRequest() {
	req, _ := AppendRequest(nil, OpCall, "operator:add", []byte("\x80\x05K\x02K\x03\x86\x94."), nil)
	fmt.Printf("%q\n", req[:7])
	r, _ := ParseRequest(req)
	fmt.Println(string(r.Op), r.Name, len(r.Args), len(r.Kwargs))
	// Output:
	// "C\x00\f\x00\x00\x00\t"
	// C operator:add 9 0
}
