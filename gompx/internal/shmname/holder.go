package shmname

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/failpoint"
)

// holder serves a segment's name for as long as this process holds the segment. It is
// in one of two roles, and moves between them on its own:
//
//   - binder: it has the name bound and answers requests, keeping the other holders'
//     links (connections) open;
//   - stand-by: it keeps a link to the binder open and waits; when the binder hangs up
//     (it closed the segment, or died and the kernel closed its sockets) the stand-bys
//     race to bind the name, and the losers link to the winner.
//
// So the name resolves while any holder lives, and no holder leaves anything behind.
type holder struct {
	addr string
	key  string // as the Segment knows it: the header's copy is shared memory a peer can write
	id   [16]byte
	hdr  *header
	fd   int // the memory file, sent to attachers; the Segment closes it after close()

	stop chan struct{} // closed by close(): ends sleeps
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	ln     *net.UnixListener          // binder: the bound name
	peers  map[*net.UnixConn]struct{} // binder: requests in progress and other holders' links
	link   *net.UnixConn              // stand-by: the link to the binder
}

// startHolder starts serving as binder of ln, or as stand-by on link. The role is set
// before it returns, so that a Close right after Create knows it was the binder.
func startHolder(addr, key string, id [16]byte, hdr *header, fd int, ln *net.UnixListener, link *net.UnixConn) *holder {
	h := &holder{addr: addr, key: key, id: id, hdr: hdr, fd: fd, stop: make(chan struct{}),
		peers: make(map[*net.UnixConn]struct{}), ln: ln, link: link}
	h.wg.Add(1)
	go h.run(ln, link)
	return h
}

func (h *holder) active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.closed && !h.hdr.unlinked()
}

func (h *holder) run(ln *net.UnixListener, link *net.UnixConn) {
	defer h.wg.Done()
	if ln != nil {
		h.accept(ln)
	} else if link != nil {
		h.wait(link)
	}
	backoff := minBackoff
	for h.active() {
		if h.takeOver() {
			backoff = minBackoff
			continue
		}
		if !h.active() || !sleep(backoff, h.stop) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// takeOver binds the name or links to whoever has it, and returns when that role ends;
// false means neither worked (try again shortly).
func (h *holder) takeOver() bool {
	ln, err := listen(h.addr)
	if err == nil {
		failpoint.Hit("shmname/bound")
		h.serve(ln)
		return true
	}
	if !errors.Is(err, unix.EADDRINUSE) {
		return false
	}
	reply, _, sock, err := request(h.addr, opStandBy, h.id)
	if err != nil {
		return false
	}
	switch reply {
	case replyYes:
		if link, err := linkConn(sock); err == nil {
			h.standBy(link)
			return true
		}
	case replyOther:
		// A creator bound the name for a new segment in the moment it was unbound (see
		// doc.go): this segment keeps its memory but has lost its name.
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
	}
	unix.Close(sock)
	return false
}

func listen(addr string) (*net.UnixListener, error) {
	return net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
}

// serve answers requests on ln until the name is released or the holder closed.
func (h *holder) serve(ln *net.UnixListener) {
	h.mu.Lock()
	// Checked after binding: an unlink that found nobody serving relies on it.
	if h.closed || h.hdr.unlinked() {
		h.mu.Unlock()
		ln.Close()
		return
	}
	h.ln = ln
	h.mu.Unlock()
	h.accept(ln)
}

func (h *holder) accept(ln *net.UnixListener) {
	defer ln.Close() // after release or close, whichever came first: closing twice is harmless
	for {
		c, err := ln.AcceptUnix()
		h.mu.Lock()
		if h.ln != ln { // released, or closed: close set a past deadline to wake us
			h.mu.Unlock()
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			h.mu.Unlock()
			if errors.Is(err, net.ErrClosed) || !sleep(maxBackoff, h.stop) {
				return
			}
			continue // out of descriptors, say: keep the name, try again
		}
		h.peers[c] = struct{}{}
		h.wg.Add(1)
		h.mu.Unlock()
		go h.answer(c)
	}
}

// answer handles one request; an attach or stand-by connection then stays open as that
// holder's link until it hangs up or this binder lets go.
func (h *holder) answer(c *net.UnixConn) {
	defer h.wg.Done()
	defer h.forget(c)
	c.SetDeadline(time.Now().Add(ioTimeout))
	req := make([]byte, requestLen)
	if _, err := io.ReadFull(c, req); err != nil || h.isClosed() {
		return // closed: no reply, the requester asks again (maybe another holder)
	}
	if checkPeer(c) != nil {
		c.Write([]byte{replyRefused})
		return
	}
	var id [16]byte
	copy(id[:], req[1:])
	unlinked := h.hdr.unlinked()
	switch {
	case req[0] == opProbe:
		c.Write([]byte{pick(unlinked, replyUnlinked, replyYes)})
		return
	case req[0] != opAttach && id != h.id:
		c.Write([]byte{replyOther})
		return
	case req[0] == opUnlink:
		reply := pick(h.hdr.markUnlinked(), replyDone, replyUnlinked)
		h.release(c)
		c.Write([]byte{reply})
		return
	case unlinked:
		c.Write([]byte{replyUnlinked})
		return
	case req[0] == opAttach:
		if _, _, err := c.WriteMsgUnix([]byte{replyYes}, unix.UnixRights(h.fd), nil); err != nil {
			return
		}
	case req[0] == opStandBy:
		if _, err := c.Write([]byte{replyYes}); err != nil {
			return
		}
	default:
		return
	}
	c.SetDeadline(time.Time{})
	var b [1]byte
	c.Read(b[:]) // until the other holder hangs up, or release or close closes c
}

func (h *holder) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func pick(cond bool, yes, no byte) byte {
	if cond {
		return yes
	}
	return no
}

func (h *holder) forget(c *net.UnixConn) {
	h.mu.Lock()
	delete(h.peers, c)
	h.mu.Unlock()
	c.Close()
}

// standBy keeps link to the binder open until the binder hangs up.
func (h *holder) standBy(link *net.UnixConn) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		link.Close()
		return
	}
	h.link = link
	h.mu.Unlock()
	h.wait(link)
}

func (h *holder) wait(link *net.UnixConn) {
	var b [1]byte
	link.Read(b[:]) // anything but a hang-up is a protocol error: treated alike
	h.mu.Lock()
	h.link = nil
	h.mu.Unlock()
	link.Close()
}

// release gives up the name after an unlink, if this holder binds it: it closes the
// listener and every link but keep, so stand-bys wake, see the flag and stop. It
// reports whether this holder was the binder.
func (h *holder) release(keep *net.UnixConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln == nil {
		return false
	}
	removeFile(h.key, h.fd) // unlinked: the POSIX name goes too
	h.ln.Close()
	h.ln = nil
	for c := range h.peers {
		if c != keep {
			c.Close()
		}
	}
	return true
}

// close stops serving, and calls done once every goroutine of the holder has ended (it
// releases what they use: the header mapping, the memory file). It reports whether this
// holder was the binder with no other holder linked: then the segment is gone.
//
// It does not wait: it shuts the connections down (the other ends see the hang-up at
// once, and the goroutines reading them wake) and gives the listener a past deadline;
// each goroutine closes its own socket. (Closing a socket that a goroutine waits on
// blocks until that goroutine has run, a hand-off between threads each time, which under
// Python cost 50-100 µs per close.) Until the listener is closed, a request that reaches
// it gets no answer and is tried again: a closed holder never serves.
func (h *holder) close(done func()) (last bool) {
	h.mu.Lock()
	h.closed = true
	last = h.ln != nil
	for c := range h.peers {
		last = last && hungUp(c)
	}
	if h.ln != nil {
		h.ln.SetDeadline(time.Unix(1, 0))
		h.ln = nil
	}
	for c := range h.peers {
		shutdown(c)
	}
	if h.link != nil {
		shutdown(h.link)
	}
	h.mu.Unlock()
	close(h.stop)
	go func() {
		h.wg.Wait()
		done()
	}()
	return last
}

// hungUp reports, without waiting, whether the other end of c has closed. A holder that
// closed a moment ago is still among the peers until its goroutine here sees the
// hang-up; asking the kernel directly spares close(); unlink() a needless search.
func hungUp(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	hup := false
	raw.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		n, err := unix.Poll(p, 0)
		hup = err == nil && n > 0 && p[0].Revents&(unix.POLLRDHUP|unix.POLLHUP) != 0
	})
	return hup
}

// shutdown ends both directions of c without closing it: the other end sees the hang-up,
// a goroutine reading c gets end of stream, and closes it.
func shutdown(c *net.UnixConn) {
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RDWR) })
	}
}
