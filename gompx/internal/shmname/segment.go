package shmname

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/failpoint"
	"github.com/gompx/gompx/gompx/internal/shm"
	"golang.org/x/sys/unix"
)

// Segment is one process's hold on a named shared memory segment: the memory file's
// descriptor, a mapping of its header page, and the holder that serves the name.
type Segment struct {
	name string // as given (or generated)
	key  string
	addr string
	id   [16]byte
	size int64

	mu       sync.Mutex
	fd       int
	hmem     []byte
	hdr      *header
	holder   *holder
	closed   bool
	gone     bool // Close found no other holder: the segment went with it
	unlinked bool // unlinked by this Segment, or seen unlinked: Unlink fails with ENOENT
}

// GeneratedPrefix starts the names Create makes up, as Python's shared_memory does.
const GeneratedPrefix = "psm_"

// maxGenerated bounds Create's attempts at a free generated name.
const maxGenerated = 100

// Create makes a segment of size data bytes and binds name to it. An empty name makes
// one up (GeneratedPrefix and 8 hex digits). The error wraps EEXIST if a live segment
// has the name, and the errors of Key for a bad name.
func Create(name string, size int64) (*Segment, error) {
	if size <= 0 || size > 1<<62 {
		return nil, errs.Errorf("create %q: size %d: %w", name, size, unix.EINVAL)
	}
	if name != "" {
		if _, err := Key(name); err != nil {
			return nil, errs.Errorf("create %q: %w", name, err)
		}
		return create(name, size)
	}
	for range maxGenerated {
		var b [4]byte
		rand.Read(b[:])
		s, err := create(GeneratedPrefix+hex.EncodeToString(b[:]), size)
		if !errors.Is(err, unix.EEXIST) {
			return s, err
		}
	}
	return nil, errs.Errorf("create: no free name in %d tries: %w", maxGenerated, unix.EEXIST)
}

func create(name string, size int64) (*Segment, error) {
	key, _ := Key(name)
	hdrOff := int64(headerOffset(size))
	page := int64(os.Getpagesize())
	fd, _, err := createFile(key, hdrOff+page)
	if err != nil {
		return nil, errs.Errorf("create %q: %w", name, err)
	}
	s := &Segment{name: name, key: key, addr: address(os.Geteuid(), key), size: size, fd: fd}
	if s.hmem, err = shm.MapRange(fd, hdrOff, page); err != nil {
		removeFile(key, fd)
		unix.Close(fd)
		return nil, errs.Errorf("create %q: %w", name, err)
	}
	s.hdr = headerOf(s.hmem)
	rand.Read(s.id[:])
	*s.hdr = header{Size: uint64(size), HdrOff: uint64(hdrOff), ID: s.id,
		Creator: uint32(os.Getpid()), NameLen: uint32(len(key)), Holders: 1}
	copy(s.hdr.Name[:], key)
	failpoint.Hit("shmname/created")
	ln, err := bind(s.addr)
	if err != nil {
		removeFile(key, fd)
		s.release()
		return nil, errs.Errorf("create %q: %w", name, err)
	}
	// Only now: a POSIX file without the magic is never taken for stale (posix.go).
	atomic.StoreUint64(&s.hdr.Magic, magic)
	s.holder = startHolder(s.addr, s.key, s.id, s.hdr, fd, ln, nil)
	return s, nil
}

// bind binds addr, or fails with EEXIST if a live segment has it. A name that is bound
// but not live (its segment unlinked and on its way out, or its binder just died) is
// tried again for a while.
func bind(addr string) (*net.UnixListener, error) {
	deadline := time.Now().Add(createRetry)
	for backoff := minBackoff; ; backoff = min(2*backoff, maxBackoff) {
		ln, err := listen(addr)
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			return nil, errs.Errorf("bind %s: %w", addr, err)
		}
		reply, _, sock, err := request(addr, opProbe, [16]byte{})
		closeFd(sock)
		if (err == nil && reply == replyYes) || (err != nil && !errors.Is(err, errNoServer)) ||
			time.Now().After(deadline) {
			return nil, errs.Errorf("%s is bound by a live segment: %w", addr, unix.EEXIST)
		}
		time.Sleep(backoff)
	}
}

// Open attaches to the live segment called name, served by any process of this user
// that holds it. The error wraps ENOENT if there is none (or it was unlinked), EACCES if
// another user's socket has the name.
func Open(name string) (*Segment, error) {
	key, err := Key(name)
	if err != nil {
		return nil, errs.Errorf("open %q: %w", name, err)
	}
	addr := address(os.Geteuid(), key)
	deadline := time.Now().Add(resolveRetry)
	for backoff := minBackoff; ; backoff = min(2*backoff, maxBackoff) {
		reply, fd, sock, err := request(addr, opAttach, [16]byte{})
		switch {
		case err == nil && reply == replyYes:
			s, err := attach(name, key, addr, sock, fd)
			if err != nil {
				return nil, errs.Errorf("open %q: %w", name, err)
			}
			return s, nil
		case err == nil:
			unix.Close(sock)
			if reply == replyUnlinked {
				return nil, errs.Errorf("open %q: unlinked: %w", name, unix.ENOENT)
			}
			return nil, errs.Errorf("open %q: the server refused (%q): %w", name, reply, unix.EACCES)
		case !errors.Is(err, errNoServer):
			return nil, errs.Errorf("open %q: %w", name, err)
		case time.Now().After(deadline):
			return nil, errs.Errorf("open %q: %w", name, unix.ENOENT)
		}
		time.Sleep(backoff)
	}
}

// attach checks the memory file fd a binder sent over sock and starts holding it, with
// sock as this holder's first link to the binder. It owns sock and fd.
func attach(name, key, addr string, sock, fd int) (*Segment, error) {
	s := &Segment{name: name, key: key, addr: addr, fd: fd}
	err := s.mapHeader(key)
	if err != nil {
		unix.Close(sock)
		s.release()
		return nil, err
	}
	link, err := linkConn(sock)
	if err != nil {
		s.release()
		return nil, err
	}
	s.id, s.size = s.hdr.ID, int64(s.hdr.Size)
	atomic.AddUint32(&s.hdr.Holders, 1)
	s.holder = startHolder(addr, s.key, s.id, s.hdr, fd, nil, link)
	return s, nil
}

// Adopt holds the segment behind fd, a descriptor of its memory file that another
// holder passed to this process (a parent to its child, say), and serves its name like
// any holder. It owns fd from now on. Unlike Open it needs no live name: a segment
// whose name is unlinked (or whose every other holder closed meanwhile) is adopted all
// the same, unnamed.
func Adopt(fd int) (*Segment, error) {
	s := &Segment{fd: fd}
	if err := s.mapHeader(""); err != nil && (s.hdr == nil || !errors.Is(err, unix.ENOENT)) {
		s.release()
		return nil, errs.Errorf("adopt fd %d: %w", fd, err)
	}
	s.key = s.hdr.key()
	s.name, s.addr = s.key, address(os.Geteuid(), s.key)
	s.id, s.size = s.hdr.ID, int64(s.hdr.Size)
	atomic.AddUint32(&s.hdr.Holders, 1)
	s.holder = startHolder(s.addr, s.key, s.id, s.hdr, fd, nil, nil)
	return s, nil
}

// mapHeader checks the received memory file and maps its header; key "" accepts the
// header's own. An unlinked segment is mapped, and reported with ENOENT.
func (s *Segment) mapHeader(key string) error {
	fileSize, err := shm.CheckSealed(s.fd)
	if err != nil {
		// A POSIX object (posix.go) cannot be sealed; its header is checked all the same.
		var st unix.Stat_t
		if unix.Fstat(s.fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return err
		}
		fileSize = st.Size
	}
	page := int64(os.Getpagesize())
	if fileSize < 2*page || fileSize%page != 0 {
		return errs.Errorf("the memory file has %d bytes, not whole pages of data and header: %w",
			fileSize, unix.EINVAL)
	}
	if s.hmem, err = shm.MapRange(s.fd, fileSize-page, page); err != nil {
		return err
	}
	s.hdr = headerOf(s.hmem)
	if key == "" {
		key = s.hdr.key()
	}
	if err := s.hdr.check(key, fileSize); err != nil {
		return errs.Errorf("%v: %w", err, unix.EINVAL)
	}
	if s.hdr.unlinked() {
		return errs.Errorf("unlinked: %w", unix.ENOENT)
	}
	return nil
}

func (s *Segment) release() {
	shm.Unmap(s.hmem) // nil if never mapped: harmless
	s.hmem, s.hdr = nil, nil
	unix.Close(s.fd)
	s.fd = -1
}

// Name is the name the segment was created or opened with (made up, if it was empty).
func (s *Segment) Name() string { return s.name }

// Size is the number of data bytes, as asked for at creation.
func (s *Segment) Size() int64 { return s.size }

// DataOffset is where the data starts in the memory file: map [DataOffset,
// DataOffset+Size) of Fd. It is 0, as for a POSIX shared memory object: the header
// follows the data.
func (s *Segment) DataOffset() int64 { return 0 }

// Fd is the memory file's descriptor (close-on-exec), valid until Close; -1 after it.
func (s *Segment) Fd() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fd
}

// Close stops serving the name from this process; the descriptor and header mapping are
// released a moment later, once the holder's goroutines have seen it (Fd is -1 at once).
// The segment lives on while another process holds it; mappings of the data made from
// Fd stay valid until unmapped. Closing twice is harmless.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.hdr.unlinked() {
		s.unlinked = true
	}
	if atomic.AddUint32(&s.hdr.Holders, ^uint32(0)) == 0 {
		// The last holder: the segment ends, and its POSIX file with it. (Holders that
		// were killed never take their 1: their file is left stale, and swept.)
		removeFile(s.key, s.fd)
	}
	hmem, fd := s.hmem, s.fd
	s.hmem, s.hdr, s.fd = nil, nil, -1
	s.gone = s.holder.close(func() {
		shm.Unmap(hmem)
		unix.Close(fd)
	})
	return nil
}

// Unlink removes the name for good: no process can open the segment by it any more, and
// the name is free for a new segment when Unlink returns (but see doc.go: a binder that
// is stopped, not dead, answers late). Mappings stay valid: the memory goes with the
// last holder. The error wraps ENOENT if the segment was unlinked already.
//
// After Close, Unlink asks whichever process now holds the segment to unlink it; if
// none does, the segment is gone already and Unlink returns nil.
func (s *Segment) Unlink() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.unlinked:
		return errs.Errorf("unlink %q: unlinked already: %w", s.name, unix.ENOENT)
	case s.closed:
		return s.unlinkClosed()
	case !s.hdr.markUnlinked():
		s.unlinked = true
		return errs.Errorf("unlink %q: unlinked already: %w", s.name, unix.ENOENT)
	}
	s.unlinked = true
	removeFile(s.key, s.fd)
	if !s.holder.release(nil) {
		// Another process binds the name: ask it to let go. Nobody serving it means a
		// binder just died; the stand-bys check the flag before they bind.
		if _, _, sock, err := request(s.addr, opUnlink, s.id); err == nil {
			unix.Close(sock)
		}
	}
	return nil
}

func (s *Segment) unlinkClosed() error {
	s.unlinked = true
	if s.gone {
		return nil
	}
	deadline := time.Now().Add(resolveRetry)
	for backoff := minBackoff; ; backoff = min(2*backoff, maxBackoff) {
		reply, _, sock, err := request(s.addr, opUnlink, s.id)
		switch {
		case err == nil:
			unix.Close(sock)
			switch reply {
			case replyDone, replyOther: // unlinked now; or the name is another segment's, ours is gone
				return nil
			case replyUnlinked:
				return errs.Errorf("unlink %q: unlinked already: %w", s.name, unix.ENOENT)
			}
			return errs.Errorf("unlink %q: the server refused (%q): %w", s.name, reply, unix.EACCES)
		case !errors.Is(err, errNoServer):
			return errs.Errorf("unlink %q: %w", s.name, err)
		case time.Now().After(deadline):
			removeIfStale(s.key) // nobody holds it: gone, but for a file killed holders left
			return nil
		}
		time.Sleep(backoff)
	}
}
