//go:build linux

package gompx

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// peerSizes straddle the ring threshold and the ring size.
func peerSizes(short bool) []int {
	sizes := []int{0, 1, ringThreshold - 1, ringThreshold, ringSize - 1, ringSize, ringSize + 1, 3*ringSize + 7}
	if !short {
		sizes = append(sizes, 64<<20)
	}
	return sizes
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestPeerSizes(t *testing.T) {
	a, b := testPipe2(t, "peer")
	for _, n := range peerSizes(testing.Short()) {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			src := randomBytes(n, 1)
			errc := make(chan error, 1)
			go func() { errc <- a.SendBytes(src) }()
			got, err := b.RecvBytes(0)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if crc32.ChecksumIEEE(got) != crc32.ChecksumIEEE(src) || len(got) != n {
				t.Fatalf("%d bytes sent, %d received, checksums differ", n, len(got))
			}
		})
	}
}

// Both ends send and receive at once, small and large messages interleaved, so both
// rings and the socket carry traffic in both directions.
func TestPeerBothWaysInterleaved(t *testing.T) {
	a, b := testPipe2(t, "peer")
	sizes := []int{5, ringThreshold, 17, ringSize + 1, 0, 3 * ringThreshold, 1, 2*ringSize + 9, 100}
	run := func(c *Conn, seed uint64, errc chan<- error) {
		send := make(chan error, 1)
		go func() {
			for i, n := range sizes {
				if err := c.SendBytes(randomBytes(n, seed+uint64(i))); err != nil {
					send <- err
					return
				}
			}
			send <- nil
		}()
		for i, n := range sizes {
			got, err := c.RecvBytes(0)
			if err != nil {
				errc <- err
				return
			}
			if !bytes.Equal(got, randomBytes(n, (3-seed)+uint64(i))) { // the other side's seed
				errc <- fmt.Errorf("message %d (%d bytes) corrupted", i, n)
				return
			}
		}
		errc <- <-send
	}
	errc := make(chan error, 2)
	go run(a, 1, errc)
	go run(b, 2, errc)
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// An end rebuilt from its State keeps going mid-way through large messages: the new
// end reuses the ring the peer already has, and the new receiver the ring it knows.
func TestPeerStateHandOff(t *testing.T) {
	a, b := testPipe2(t, "peer")
	big := randomBytes(ringSize+5, 9)
	exchange := func(from, to *Conn) {
		t.Helper()
		errc := make(chan error, 1)
		go func() { errc <- from.SendBytes(big) }()
		got, err := to.RecvBytes(0)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("exchange: %d bytes, %v", len(got), err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	exchange(a, b)
	exchange(b, a)
	for _, c := range []*Conn{a, b} {
		s := c.State()
		if s.SendRingFd < 0 || s.RecvRingFd < 0 || !s.PeerHasSendRing {
			t.Fatalf("state after traffic both ways: %+v", s)
		}
	}
	// Rebuild both ends from duplicated descriptors, as a child would inherit them.
	rebuild := func(c *Conn) *Conn {
		s := c.State()
		fds := s.Fds()
		for i := range fds {
			fds[i] = dupFd(t, fds[i])
		}
		s, _ = s.WithFds(fds)
		c.Close()
		n, err := ConnFromState(s)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a2, b2 := rebuild(a), rebuild(b)
	exchange(a2, b2)
	exchange(b2, a2)
}

// Closing the receiving end while a large send is blocked on the full ring gives the
// sender EPIPE after at most a few wait slices, on duplex and one-way pipes alike.
func TestPeerReceiverGone(t *testing.T) {
	for _, duplex := range []bool{true, false} {
		r, w, err := Pipe(duplex)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- w.SendBytes(make([]byte, 4*ringSize)) }()
		if _, err := r.RecvHeader(-1); err != nil {
			t.Fatal(err)
		}
		r.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, unix.EPIPE) {
				t.Errorf("duplex=%v: SendBytes = %v, want EPIPE", duplex, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("duplex=%v: sender hangs after the receiver closed", duplex)
		}
		w.Close()
	}
}

// An end starts on the small ring and, after its first large send, switches to the big
// one made in the background; every message before, during and after the switch
// arrives whole, and the receiver ends up mapping the big ring.
func TestPeerRingGrows(t *testing.T) {
	a, b := testPipe2(t, "peer")
	first := min(ringFirstSize, ringSize)
	if first == ringSize {
		t.Fatalf("ringFirstSize %d is not below ringSize %d: nothing to grow", ringFirstSize, ringSize)
	}
	sizes := []int{ringThreshold, 3*first + 5} // the first fits the first ring, the second does not
	for i := 0; i < 500 && (a.sendRing == nil || a.sendRing.Size() < ringSize); i++ {
		if i >= len(sizes) {
			sizes = append(sizes, first+i)
		}
		src := randomBytes(sizes[i], uint64(i))
		errc := make(chan error, 1)
		go func() { errc <- a.SendBytes(src) }()
		got, err := b.RecvBytes(0)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, src) {
			t.Fatalf("message %d: %d bytes sent, %d received or different", i, len(src), len(got))
		}
		if i == 0 && a.sendRing.Size() != first {
			t.Fatalf("first ring has %d bytes, want %d", a.sendRing.Size(), first)
		}
	}
	if a.sendRing.Size() != ringSize {
		t.Fatalf("send ring still %d bytes after 500 messages, want %d", a.sendRing.Size(), ringSize)
	}
	// One more message: the receiver adopts the big ring with its marker.
	src := randomBytes(ringSize+3, 99)
	errc := make(chan error, 1)
	go func() { errc <- a.SendBytes(src) }()
	got, err := b.RecvBytes(0)
	if err != nil || <-errc != nil || !bytes.Equal(got, src) {
		t.Fatalf("message after the switch: err %v, %d of %d bytes", err, len(got), len(src))
	}
	if b.recvRing.Size() != ringSize {
		t.Fatalf("receiver maps a %d-byte ring, want %d", b.recvRing.Size(), ringSize)
	}
}

// Closing an end while its bigger ring is still being made leaks nothing: the ring is
// closed once made, so every descriptor the end opened is gone.
func TestPeerCloseWhileGrowing(t *testing.T) {
	before := openFds(t)
	for range 20 {
		a, b, err := Pipe(true)
		if err != nil {
			t.Fatal(err)
		}
		src := randomBytes(ringSize, 7) // outgrows the first ring: growth starts
		errc := make(chan error, 1)
		go func() { errc <- a.SendBytes(src) }()
		if _, err := b.RecvBytes(0); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		a.Close()
		b.Close()
	}
	for i := 0; openFds(t) > before; i++ { // the closing goroutines finish on their own
		if i == 1000 {
			t.Fatalf("%d descriptors open, %d before", openFds(t), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func openFds(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A fresh end's first ring holds its first payload whole (up to ringSize), so that the
// sender does not sleep mid-message waiting for the receiver to make room.
func TestPeerFirstRingFitsFirstPayload(t *testing.T) {
	for _, n := range []int{ringThreshold, ringFirstSize + 1, 1 << 20, ringSize + 1} {
		a, b := testPipe2(t, "peer")
		src := randomBytes(n, 3)
		errc := make(chan error, 1)
		go func() { errc <- a.SendBytes(src) }()
		got, err := b.RecvBytes(0)
		if err != nil || <-errc != nil || !bytes.Equal(got, src) {
			t.Fatalf("%d bytes: err %v, %d bytes received", n, err, len(got))
		}
		want := ringFirstSize
		for want < n && want < ringSize {
			want *= 2
		}
		if a.sendRing.Size() != want {
			t.Errorf("first payload of %d bytes: first ring of %d bytes, want %d", n, a.sendRing.Size(), want)
		}
	}
}
