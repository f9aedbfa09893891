//go:build linux

package gompx

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func seqBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// The HMACs below were computed with CPython 3.12's hmac module for key b"secret".
var (
	legacyChallenge = seqBytes(20)
	modernChallenge = append([]byte("{sha256}"), seqBytes(40)...)
	legacyMD5       = unhex("7defa9cc46abc3583325d17ccda75190")
	modernMD5       = unhex("8e48d2bb349b4b72b9382999ed5b62eb")
	modernSHA256    = unhex("fc57fbe650d6124b98215e7b5d197d5807ad69982d275a9735ea2d56f1fa6989")
	modernSHA3_384  = unhex("8f7c0b025ef0a88432bc2c75e9272002839245e5afc9d59271c99679e10afcd3bffa25c63dae3cfdeab6bcf4de17d2ac")
)

func prefixed(digest string, mac []byte) []byte {
	return append([]byte("{"+digest+"}"), mac...)
}

func TestMakeAnswer(t *testing.T) {
	key := []byte("secret")
	tests := []struct {
		name      string
		challenge []byte
		want      []byte // nil: ErrAuthentication
	}{
		{"legacy 20 bytes: raw HMAC-MD5 (CPython <= 3.11)", legacyChallenge, legacyMD5},
		{"{sha256}: prefixed HMAC over the whole message", modernChallenge, prefixed("sha256", modernSHA256)},
		{"unknown digest", append([]byte("{sha1}"), seqBytes(40)...), nil},
		{"no prefix, not legacy length", seqBytes(30), nil},
		{"unclosed prefix", append([]byte("{sha256"), seqBytes(40)...), nil},
		{"prefix too far", append([]byte("{sha3_2566}"), seqBytes(40)...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := makeAnswer(key, tt.challenge)
			if tt.want == nil {
				if !errors.Is(err, ErrAuthentication) {
					t.Fatalf("got %x, %v; want ErrAuthentication", got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("got %x, %v; want %x", got, err, tt.want)
			}
		})
	}
}

func TestVerifyAnswer(t *testing.T) {
	key := []byte("secret")
	flip := func(b []byte) []byte { c := bytes.Clone(b); c[len(c)-1] ^= 1; return c }
	tests := []struct {
		name   string
		answer []byte
		ok     bool
	}{
		{"{sha256} answer (CPython 3.12+)", prefixed("sha256", modernSHA256), true},
		{"raw MD5 over the prefixed message (CPython <= 3.11)", modernMD5, true},
		{"stronger digest chosen by the peer", prefixed("sha3_384", modernSHA3_384), true},
		{"wrong sha256", prefixed("sha256", flip(modernSHA256)), false},
		{"wrong raw MD5", flip(modernMD5), false},
		{"MD5 of the message without its prefix", prefixed("md5", legacyMD5), false},
		{"digest and length disagree", prefixed("sha384", modernSHA256), false},
		{"unsupported digest", prefixed("sha1", modernSHA256[:20]), false},
		{"empty", nil, false},
		{"20 bytes: read as legacy, wrong length for MD5", seqBytes(20), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyAnswer(key, modernChallenge, tt.answer)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrAuthentication)) {
				t.Fatalf("verify: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// handshakePair runs server and client handshakes over a socket pair and returns
// their errors.
func handshakePair(t *testing.T, serverKey, clientKey []byte, digest string) (error, error) {
	t.Helper()
	a, b := testPipe2(t, "plain")
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() { done <- runHandshake(b, clientKey, "", AnswerStep, DeliverStep) }()
	serverErr := runHandshake(a, serverKey, digest, DeliverStep, AnswerStep)
	if serverErr != nil {
		a.Close() // the client may be waiting for our challenge
	}
	return serverErr, <-done
}

func TestHandshakeBothWays(t *testing.T) {
	for _, digest := range []string{"", "md5", "sha256", "sha384", "sha3_256", "sha3_384"} {
		for _, key := range [][]byte{{}, []byte("k"), bytes.Repeat([]byte("long key "), 40)} {
			if s, c := handshakePair(t, key, key, digest); s != nil || c != nil {
				t.Errorf("digest %q, %d-byte key: server %v, client %v", digest, len(key), s, c)
			}
		}
	}
	s, c := handshakePair(t, []byte("right"), []byte("wrong"), "")
	if !errors.Is(s, ErrAuthentication) || !errors.Is(c, ErrAuthentication) {
		t.Errorf("wrong key: server %v, client %v; want ErrAuthentication on both sides", s, c)
	}
}

func TestHandshakeHostilePeer(t *testing.T) {
	tests := []struct {
		name    string
		steps   []AuthStep
		peer    [][]byte // messages the peer sends, in order
		wantErr error
	}{
		{"answer longer than 256 bytes is not read", []AuthStep{DeliverStep}, [][]byte{make([]byte, 1<<20)}, ErrMessageTooLong},
		{"garbage instead of a challenge", []AuthStep{AnswerStep}, [][]byte{[]byte("\x80\x04K\x01.")}, ErrAuthentication},
		{"challenge too short", []AuthStep{AnswerStep}, [][]byte{[]byte("#CHALLENGE#abc")}, ErrAuthentication},
		{"verdict is not WELCOME", []AuthStep{AnswerStep}, [][]byte{append([]byte("#CHALLENGE#"), legacyChallenge...), []byte("#FAILURE#")}, ErrAuthentication},
		{"peer hangs up", []AuthStep{AnswerStep}, nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := testPipe2(t, "plain")
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				for _, m := range tt.peer {
					if peer.SendBytes(m) != nil {
						return
					}
				}
				if len(tt.peer) == 0 {
					peer.Close()
				}
			}()
			defer func() { c.Close(); <-sent }() // our end gone: a blocked send fails
			err := runHandshake(c, []byte("key"), "", tt.steps...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewHandshakeErrors(t *testing.T) {
	c, _ := plainPair(t)
	defer c.Close()
	for _, tt := range []struct {
		key    []byte
		digest string
		steps  []AuthStep
	}{
		{nil, "", []AuthStep{DeliverStep}},
		{[]byte{}, "sha1", []AuthStep{DeliverStep}},
		{[]byte{}, "", []AuthStep{7}},
	} {
		if _, err := NewHandshake(c, tt.key, tt.digest, tt.steps...); err == nil {
			t.Errorf("NewHandshake(%v, %q, %v): no error", tt.key, tt.digest, tt.steps)
		}
	}
}

// FuzzHandshakeMessages: whatever a peer sends as a challenge or an answer, parsing it
// never panics, and an answer is accepted only if it is what makeAnswer computes for
// the digest it names.
func FuzzHandshakeMessages(f *testing.F) {
	f.Add(legacyChallenge, legacyMD5)
	f.Add(modernChallenge, prefixed("sha256", modernSHA256))
	f.Add(modernChallenge, modernMD5)
	f.Add([]byte("{sha3_384}"), []byte("{}"))
	f.Add([]byte("{"), []byte("{sha256"))
	key := []byte("secret")
	f.Fuzz(func(t *testing.T, challenge, answer []byte) {
		if got, err := makeAnswer(key, challenge); err == nil {
			if verr := verifyAnswer(key, challenge, got); verr != nil {
				t.Fatalf("our own answer %x to %x rejected: %v", got, challenge, verr)
			}
		}
		if verifyAnswer(key, challenge, answer) == nil {
			digest, got, _ := splitDigest(answer)
			if digest == "" {
				digest = "md5"
			}
			if want := mac(digest, key, challenge); !bytes.Equal(got, want) {
				t.Fatalf("accepted %x for %x", answer, challenge)
			}
		}
	})
}
