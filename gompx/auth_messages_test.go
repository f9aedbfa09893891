package gompx

import (
	"bytes"
	"errors"
	"testing"
)

// The handshake's messages without I/O: each answerer key against the deliverer's.
func TestAuthMessages(t *testing.T) {
	cases := []struct {
		name             string
		digest           string
		deliverKey       []byte
		answerKey        []byte
		wantAuthenticate bool
	}{
		{"same key, default digest", "", []byte("key"), []byte("key"), true},
		{"same key, md5", "md5", []byte("key"), []byte("key"), true},
		{"same empty key", "sha3_384", []byte{}, []byte{}, true},
		{"other key", "sha256", []byte("key"), []byte("yek"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			challenge, err := NewChallenge(tc.digest)
			if err != nil {
				t.Fatal(err)
			}
			reply, err := Answer(tc.answerKey, challenge)
			if err != nil {
				t.Fatal(err)
			}
			verdict, err := Verdict(tc.deliverKey, challenge, reply)
			if tc.wantAuthenticate != (err == nil) {
				t.Fatalf("Verdict error %v, want authenticated=%v", err, tc.wantAuthenticate)
			}
			if err != nil && !errors.Is(err, ErrAuthentication) {
				t.Fatalf("Verdict error %v does not wrap ErrAuthentication", err)
			}
			if checkErr := CheckVerdict(verdict); (checkErr == nil) != tc.wantAuthenticate {
				t.Fatalf("CheckVerdict(%q) = %v", verdict, checkErr)
			}
		})
	}
}

func TestAuthMessagesRefuseBadInput(t *testing.T) {
	if _, err := NewChallenge("crc32"); err == nil {
		t.Error("NewChallenge accepted an unknown digest")
	}
	if _, err := Answer([]byte("k"), []byte("something bogus")); !errors.Is(err, ErrAuthentication) {
		t.Errorf("Answer to a non-challenge: %v, want ErrAuthentication", err)
	}
	if _, err := Answer([]byte("k"), append(bytes.Clone(authChallenge), "short"...)); !errors.Is(err, ErrAuthentication) {
		t.Errorf("Answer to a short challenge: %v, want ErrAuthentication", err)
	}
	challenge, _ := NewChallenge("")
	if _, err := Verdict([]byte("k"), challenge, []byte("something bogus")); !errors.Is(err, ErrAuthentication) {
		t.Errorf("Verdict on a bogus answer: %v, want ErrAuthentication", err)
	}
	if _, err := Verdict([]byte("k"), []byte("not ours"), []byte("x")); err == nil {
		t.Error("Verdict accepted a challenge this side never sent")
	}
}
