package gompx

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"errors"
	"hash"

	"github.com/gompx/gompx/gompx/internal/errs"
)

// The handshake's fixed messages, as CPython's multiprocessing.connection spells them.
var (
	authChallenge = []byte("#CHALLENGE#")
	authWelcome   = []byte("#WELCOME#")
	authFailure   = []byte("#FAILURE#")
)

const (
	// challengeRandom is how many random bytes follow the {digest} prefix of a challenge
	// (CPython 3.12's MESSAGE_LENGTH).
	challengeRandom = 40
	// legacyChallengeLen is the length of a CPython <= 3.11 challenge (after
	// #CHALLENGE#): 20 random bytes, answered with a raw HMAC-MD5.
	legacyChallengeLen = 20
	// md5Len is the length of a raw HMAC-MD5 answer, what CPython <= 3.11 sends.
	md5Len = 16
	// maxAuthMessage bounds every handshake message, as CPython's recv_bytes(256):
	// nothing longer is read from a peer that has not authenticated.
	maxAuthMessage = 256
	// DefaultDigest is the HMAC digest of the challenges gompx sends.
	DefaultDigest = "sha256"
)

// authDigests are the digests CPython 3.12+ accepts in a {digest} prefix.
var authDigests = map[string]func() hash.Hash{
	"md5":      md5.New,
	"sha256":   sha256.New,
	"sha384":   sha512.New384,
	"sha3_256": func() hash.Hash { return sha3.New256() },
	"sha3_384": func() hash.Hash { return sha3.New384() },
}

// maxDigestName is the length of the longest name in authDigests.
const maxDigestName = len("sha3_256")

// AuthStep is one half of the authentication handshake; NewHandshake runs them in the
// order given.
type AuthStep uint8

const (
	// DeliverStep sends a challenge, checks the peer's answer and tells the peer
	// #WELCOME# or #FAILURE# (CPython's deliver_challenge).
	DeliverStep AuthStep = iota + 1
	// AnswerStep answers the peer's challenge and reads its verdict (CPython's
	// answer_challenge).
	AnswerStep
)

// Handshake is a resumable run of the authentication handshake on one Conn. It exists so
// that a Conn made SetInterruptible can give control back to an embedding interpreter
// when a signal arrives while the handshake waits for the peer: Run then returns an
// error wrapping ErrInterrupted, and calling Run again resumes where it stopped. Any
// other error is final.
type Handshake struct {
	c       *Conn
	key     []byte
	digest  string
	phases  []authPhase
	next    int    // index of the phase to run next
	message []byte // the challenge we sent, kept for the answer
	partial []byte // a message a signal interrupted, to finish reading on resume
	err     error  // sticky final error
}

type authPhase func(h *Handshake) error

// NewHandshake prepares the steps on c with authkey (which may be empty, never nil).
// digest names the HMAC of the challenges this side sends: "" means DefaultDigest;
// otherwise one of md5, sha256, sha384, sha3_256, sha3_384.
func NewHandshake(c *Conn, authkey []byte, digest string, steps ...AuthStep) (*Handshake, error) {
	if digest == "" {
		digest = DefaultDigest
	}
	if _, ok := authDigests[digest]; !ok {
		return nil, errs.Errorf("handshake: digest %q: want one of md5, sha256, sha384, sha3_256, sha3_384", digest)
	}
	if authkey == nil {
		return nil, errs.New("handshake: authkey is nil (an empty key is []byte{})")
	}
	h := &Handshake{c: c, key: bytes.Clone(authkey), digest: digest}
	for _, s := range steps {
		switch s {
		case DeliverStep:
			h.phases = append(h.phases, (*Handshake).sendChallenge, (*Handshake).checkAnswer)
		case AnswerStep:
			h.phases = append(h.phases, (*Handshake).answer, (*Handshake).readVerdict)
		default:
			return nil, errs.Errorf("handshake: unknown step %d", s)
		}
	}
	return h, nil
}

// Run runs the remaining steps. It returns nil once the peer has authenticated (and
// accepted us), an error wrapping ErrAuthentication when either side's digest was
// wrong or the peer broke the protocol, or one wrapping ErrInterrupted (resume with Run).
func (h *Handshake) Run() error {
	if h.err != nil {
		return h.err
	}
	for h.next < len(h.phases) {
		err := h.phases[h.next](h)
		if errors.Is(err, ErrInterrupted) {
			return errs.Errorf("handshake: %w", err)
		}
		if err != nil {
			h.err = errs.Errorf("handshake: %w", err)
			return h.err
		}
		h.next++
	}
	return nil
}

// DeliverChallenge authenticates the peer of c: it sends a challenge with the HMAC
// digest named (""=DefaultDigest) and returns nil if the answer proves the peer knows
// authkey. A CPython peer of any version 3.10-3.13 can answer.
func DeliverChallenge(c *Conn, authkey []byte, digest string) error {
	return runHandshake(c, authkey, digest, DeliverStep)
}

// AnswerChallenge proves to the peer of c that this side knows authkey. It answers the
// legacy challenge of CPython <= 3.11 (raw HMAC-MD5) and the {digest} challenge of
// CPython 3.12+ alike, as CPython 3.12 does.
func AnswerChallenge(c *Conn, authkey []byte) error {
	return runHandshake(c, authkey, "", AnswerStep)
}

func runHandshake(c *Conn, authkey []byte, digest string, steps ...AuthStep) error {
	h, err := NewHandshake(c, authkey, digest, steps...)
	if err != nil {
		return err
	}
	return h.Run()
}

// sendChallenge sends a NewChallenge message. Every CPython from 3.10 on answers it.
func (h *Handshake) sendChallenge() error {
	msg, err := NewChallenge(h.digest)
	if err != nil {
		return err
	}
	h.message = msg
	return h.c.SendBytes(msg)
}

// checkAnswer reads the peer's answer to our challenge and tells the peer the verdict.
func (h *Handshake) checkAnswer() error {
	answer, err := h.recv()
	if err != nil {
		return err
	}
	verdict, verr := Verdict(h.key, h.message, answer)
	if err := h.c.SendBytes(verdict); err != nil && verr != nil {
		return errs.Errorf("%w (telling the peer failed too: %v)", verr, err)
	} else if err != nil {
		return err
	}
	return verr
}

// answer reads the peer's challenge and sends our HMAC of it.
func (h *Handshake) answer() error {
	msg, err := h.recv()
	if err != nil {
		return err
	}
	response, err := Answer(h.key, msg)
	if err != nil {
		return err
	}
	return h.c.SendBytes(response)
}

// readVerdict reads #WELCOME# or anything else (a rejection) after our answer.
func (h *Handshake) readVerdict() error {
	msg, err := h.recv()
	if err != nil {
		return err
	}
	return CheckVerdict(msg)
}

// The handshake's messages without the I/O, for a caller that carries them over a
// transport of its own (gompx's Python layer does, for connection-like objects that are
// not a Conn). The deliverer sends NewChallenge, reads the answer and sends what Verdict
// returns; the answerer reads the challenge, sends Answer's reply, and passes the
// verdict it reads to CheckVerdict. No message longer than 256 bytes need be read.

// AuthMessages returns the handshake's fixed messages: the prefix of a challenge, the
// welcome and the failure verdicts (CPython's CHALLENGE, WELCOME and FAILURE).
func AuthMessages() (challenge, welcome, failure []byte) {
	return bytes.Clone(authChallenge), bytes.Clone(authWelcome), bytes.Clone(authFailure)
}

// NewChallenge returns a challenge message: #CHALLENGE#{digest} + 40 random bytes
// (digest "" is DefaultDigest). CPython <= 3.11 answers it with a raw HMAC-MD5 over
// what follows #CHALLENGE#, 3.12+ with {digest} + HMAC-digest over it.
func NewChallenge(digest string) ([]byte, error) {
	if digest == "" {
		digest = DefaultDigest
	}
	if _, ok := authDigests[digest]; !ok {
		return nil, errs.Errorf("handshake: digest %q: want one of md5, sha256, sha384, sha3_256, sha3_384", digest)
	}
	msg := make([]byte, 0, len(authChallenge)+len(digest)+2+challengeRandom)
	msg = append(append(append(append(msg, authChallenge...), '{'), digest...), '}')
	random := make([]byte, challengeRandom)
	if _, err := rand.Read(random); err != nil {
		return nil, errs.Errorf("random challenge: %w", err)
	}
	return append(msg, random...), nil
}

// Answer returns the reply to a challenge message received from the peer (#CHALLENGE#
// included); an error wrapping ErrAuthentication if it is no challenge.
func Answer(authkey, challenge []byte) ([]byte, error) {
	if !bytes.HasPrefix(challenge, authChallenge) {
		return nil, errs.Errorf("%w: protocol error, expected a challenge, got %q", ErrAuthentication, challenge)
	}
	msg := challenge[len(authChallenge):]
	if len(msg) < legacyChallengeLen {
		return nil, errs.Errorf("%w: challenge too short: %d bytes", ErrAuthentication, len(msg))
	}
	return makeAnswer(authkey, msg)
}

// Verdict checks the peer's answer to the challenge message we sent (as NewChallenge
// returned it) and returns what to tell the peer: #WELCOME#, or #FAILURE# with an error
// wrapping ErrAuthentication.
func Verdict(authkey, challenge, answer []byte) ([]byte, error) {
	msg, ok := bytes.CutPrefix(challenge, authChallenge)
	if !ok {
		return nil, errs.Errorf("handshake: %q is not a challenge this side sent", challenge)
	}
	if err := verifyAnswer(authkey, msg, answer); err != nil {
		return bytes.Clone(authFailure), err
	}
	return bytes.Clone(authWelcome), nil
}

// CheckVerdict reports whether the peer's verdict on our answer is #WELCOME#; anything
// else is a rejection (an error wrapping ErrAuthentication).
func CheckVerdict(verdict []byte) error {
	if !bytes.Equal(verdict, authWelcome) {
		return errs.Errorf("%w: digest sent was rejected", ErrAuthentication)
	}
	return nil
}

// recv reads one handshake message of at most maxAuthMessage bytes. A longer one is not
// read at all: it fails the handshake and leaves the stream out of step, so the caller
// must close the connection.
//
// A signal inside the message (ErrInterrupted) keeps what arrived in h.partial, and the
// phase's next run resumes the read.
func (h *Handshake) recv() ([]byte, error) {
	buf := h.partial
	if buf == nil {
		n, err := h.c.RecvHeader(-1)
		if err != nil {
			return nil, err
		}
		if n > maxAuthMessage {
			h.c.recvErr = ErrBadFrame
			return nil, errs.Errorf("%d-byte handshake message, at most %d allowed: %w", n, maxAuthMessage, ErrMessageTooLong)
		}
		buf = make([]byte, n)
	}
	h.partial = nil
	if err := h.c.RecvPayload(buf); err != nil {
		if errors.Is(err, ErrInterrupted) {
			h.partial = buf
		}
		return nil, err
	}
	return buf, nil
}

// splitDigest returns the digest named by a {digest} prefix and what follows it, or ""
// and msg itself for the legacy forms (a 20-byte challenge, a 16-byte MD5 answer).
func splitDigest(msg []byte) (string, []byte, error) {
	if len(msg) == legacyChallengeLen || len(msg) == md5Len {
		return "", msg, nil
	}
	if len(msg) > 0 && msg[0] == '{' {
		end := bytes.IndexByte(msg[1:min(len(msg), maxDigestName+2)], '}')
		if end > 0 {
			name := string(msg[1 : 1+end])
			if _, ok := authDigests[name]; ok {
				return name, msg[2+end:], nil
			}
		}
	}
	return "", nil, errs.Errorf("%w: unsupported message length, missing digest prefix, or unsupported digest: %q",
		ErrAuthentication, msg)
}

func mac(digest string, key, msg []byte) []byte {
	m := hmac.New(authDigests[digest], key)
	m.Write(msg)
	return m.Sum(nil)
}

// makeAnswer is the answer to challenge msg: a raw HMAC-MD5 for a legacy challenge,
// otherwise {digest} + HMAC-digest of the whole message, prefix included.
func makeAnswer(key, msg []byte) ([]byte, error) {
	digest, _, err := splitDigest(msg)
	if err != nil {
		return nil, err
	}
	if digest == "" {
		return mac("md5", key, msg), nil
	}
	return append([]byte("{"+digest+"}"), mac(digest, key, msg)...), nil
}

// verifyAnswer checks answer against our challenge msg in constant time. A peer may
// answer a {digest} challenge with a raw HMAC-MD5 (CPython <= 3.11 does) or pick
// another allowed digest, as CPython 3.12 accepts.
func verifyAnswer(key, msg, answer []byte) error {
	digest, got, err := splitDigest(answer)
	if err != nil {
		return err
	}
	if digest == "" {
		digest = "md5"
	}
	want := mac(digest, key, msg)
	if len(want) != len(got) {
		return errs.Errorf("%w: expected %s of length %d, got %d", ErrAuthentication, digest, len(want), len(got))
	}
	if !hmac.Equal(want, got) {
		return errs.Errorf("%w: digest received was wrong", ErrAuthentication)
	}
	return nil
}
