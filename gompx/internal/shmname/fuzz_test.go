package shmname

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The name protocol's two ends face other processes: a binder reads requests from
// whoever connects to its abstract address (any process of the user, any bytes), and an
// attacher believes the reply and the memory file of whoever binds the name. These
// targets send each end what a broken or hostile peer could.

var fuzzNames atomic.Int64

// fuzzName is a name no other iteration, test or run uses.
func fuzzName() string {
	return fmt.Sprintf("gompx-fuzz-%d-%d", os.Getpid(), fuzzNames.Add(1))
}

// FuzzServeRequest: any bytes sent to a binder get one of the replies of the table in
// doc.go, or none (the connection closes); only an unlink that names the segment's ID
// unlinks it, and otherwise the binder goes on serving attachers.
func FuzzServeRequest(f *testing.F) {
	zero := make([]byte, 16)
	for _, op := range []byte{opAttach, opStandBy, opProbe, opUnlink, 'X', 0} {
		f.Add(append([]byte{op}, zero...), true)
		f.Add(append([]byte{op}, zero...), false)
	}
	f.Add([]byte(nil), false)
	f.Add([]byte{opAttach}, false)                              // truncated
	f.Add(append([]byte{opProbe}, make([]byte, 100)...), false) // longer than a request
	f.Fuzz(func(t *testing.T, req []byte, knowsID bool) {
		s, err := Create(fuzzName(), 4096)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		req = append([]byte(nil), req[:min(len(req), 64)]...)
		if knowsID && len(req) >= requestLen { // the peer XORs the real ID in
			for i := range 16 {
				req[1+i] ^= s.id[i]
			}
		}
		reply, fd := rawRequest(t, s.addr, req)
		closeFd(fd)

		var want byte // 0: no reply
		var id [16]byte
		if len(req) >= requestLen {
			copy(id[:], req[1:requestLen])
			switch op := req[0]; {
			case op == opProbe:
				want = replyYes
			case op != opAttach && id != s.id:
				want = replyOther
			case op == opUnlink:
				want = replyDone
			case op == opAttach, op == opStandBy:
				want = replyYes
			}
		}
		if reply != want || (fd >= 0) != (want == replyYes && req[0] == opAttach) {
			t.Fatalf("request %x: reply %q with fd %v, want %q", req, reply, fd >= 0, want)
		}
		if unlinked := s.hdr.unlinked(); unlinked != (want == replyDone) {
			t.Fatalf("request %x: unlinked %v", req, unlinked)
		}
		if want == replyDone {
			return
		}
		o, err := Open(s.name)
		if err != nil {
			t.Fatalf("open after request %x: %v", req, err)
		}
		o.Close()
	})
}

// rawRequest sends req on a new connection to addr, ends its side, and returns the reply
// byte (0 when the binder closed without one) and any descriptor that came with it.
func rawRequest(t *testing.T, addr string, req []byte) (byte, int) {
	t.Helper()
	sock, err := connect(addr) // with the 5 s socket timeouts of the real client
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sock)
	if len(req) > 0 {
		n, err := unix.Write(sock, req)
		for err == unix.EINTR {
			n, err = unix.Write(sock, req)
		}
		if err != nil || n != len(req) {
			t.Fatalf("write %x: %d, %v", req, n, err)
		}
	}
	unix.Shutdown(sock, unix.SHUT_WR)
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, flags, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	for err == unix.EINTR { // the Go runtime's own signals, as exchange retries them
		n, oobn, flags, _, err = unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	}
	if err == unix.ECONNRESET { // closed with bytes of ours unread: a hang-up too
		return 0, -1
	}
	if err != nil {
		t.Fatalf("request %x: %v (a binder that neither answers nor hangs up)", req, err)
	}
	fd, err := receivedFd(oob[:oobn], flags)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return 0, fd
	}
	return buf[0], fd
}

// FuzzAttachReply: whoever binds a name answers Open with any reply byte, with or
// without a memory file, whose header it may have written anything into. Open then
// fails with an error wrapping ENOENT, EACCES, EINVAL or EPROTO (a reply
// that breaks the protocol), or it attaches a segment
// whose header is consistent with the file; it never maps past the file or panics.
func FuzzAttachReply(f *testing.F) {
	f.Add(byte(replyYes), true, uint16(0), []byte(nil), uint16(1))
	f.Add(byte(replyYes), false, uint16(0), []byte(nil), uint16(1))
	f.Add(byte(replyYes), true, uint16(8), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, uint16(1)) // Size
	f.Add(byte(replyYes), true, uint16(16), []byte{1}, uint16(1))                                             // HdrOff
	f.Add(byte(replyYes), true, uint16(48), []byte{1, 0, 0, 0}, uint16(1))                                    // Unlinked
	f.Add(byte(replyYes), true, uint16(56), []byte{0xff, 0xff, 0xff, 0xff}, uint16(1))                        // NameLen
	f.Add(byte(replyUnlinked), false, uint16(0), []byte(nil), uint16(1))
	f.Add(byte(replyRefused), true, uint16(0), []byte(nil), uint16(0))
	f.Add(byte('?'), false, uint16(0), []byte(nil), uint16(1))
	f.Fuzz(func(t *testing.T, reply byte, sendFd bool, at uint16, patch []byte, pages uint16) {
		name := fuzzName()
		key, _ := Key(name)
		// The file a real creator would make for name, then whatever the peer writes.
		srcName := fuzzName()
		src, err := Create(srcName, int64(pages%4)*4096+1)
		if err != nil {
			if pages%4 == 0 {
				srcName = fuzzName()
				src, err = Create(srcName, 1)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { checkFileGone(t, srcName) })
		defer src.Close()
		h := src.hdr
		hdrBytes := unsafe.Slice((*byte)(unsafe.Pointer(h)), unsafe.Sizeof(*h))
		// src's own header comes back before src closes: the last Close removes the file
		// the header names, and a header rewritten for name would leave src's behind.
		saved := append([]byte(nil), hdrBytes...)
		defer copy(hdrBytes, saved)
		h.NameLen = uint32(len(key))
		copy(h.Name[:], key)
		copy(hdrBytes[int(at)%len(hdrBytes):], patch)

		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: address(os.Geteuid(), key), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan struct{})
		go func() {
			defer close(served)
			defer ln.Close()
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			defer c.Close()
			c.Read(make([]byte, requestLen))
			var rights []byte
			if sendFd {
				rights = unix.UnixRights(src.Fd())
			}
			c.WriteMsgUnix([]byte{reply}, rights, nil)
		}()
		s, err := Open(name)
		<-served
		if err != nil {
			known := false
			for _, e := range []error{unix.ENOENT, unix.EACCES, unix.EINVAL, unix.EPROTO} {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("open: %v wraps none of ENOENT, EACCES, EINVAL, EPROTO", err)
			}
			return
		}
		defer s.Close()
		var st unix.Stat_t
		if err := unix.Fstat(s.Fd(), &st); err != nil {
			t.Fatal(err)
		}
		// The data, then the header page: both inside the file.
		if reply != replyYes || !sendFd || s.Size() <= 0 ||
			int64(headerOffset(s.Size()))+int64(os.Getpagesize()) != st.Size || s.DataOffset() != 0 {
			t.Fatalf("attached with reply %q, fd %v: offset %d + size %d in a %d-byte file",
				reply, sendFd, s.DataOffset(), s.Size(), st.Size)
		}
		if s.key != key || s.hdr.unlinked() {
			t.Fatalf("attached %q (unlinked %v) for %q", s.key, s.hdr.unlinked(), key)
		}
	})
}

// checkFileGone fails the test if the memory file of the closed segment name is still
// in /dev/shm: fuzz workers are stopped by a signal, so TestMain's check never sees
// what their iterations leave.
func checkFileGone(t *testing.T, name string) {
	key, err := Key(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(posixPath(key)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the memory file of %s is left behind after its last Close (%v)", name, err)
	}
}
