package shmname

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/shm"
	"golang.org/x/sys/unix"
)

// POSIX names. Programs that know nothing of gompx (stock CPython's shared_memory, C
// code calling shm_open(3)) find a segment as the file /dev/shm/<key>, opened with
// O_NOFOLLOW: no link will do, so where /dev/shm is usable the memory file is that file
// itself, data first, as they expect (they also see the header page after it: their size
// is one page more than the data rounded up to whole pages).
//
// The file holds the memory until it is removed, so gompx removes it where the segment
// ends: Unlink, and the Close of the last holder (a binder with no stand-by left). What a
// SIGKILL of every holder leaves is swept: a file with a gompx header whose name no
// holder serves is stale, and is removed when a Create finds it in its way, and by the
// first Create in every process. A creator sets the header's magic only once it has
// bound the name, so a segment being created is never taken for stale; a file without
// the magic is stale once the creator its header names is gone (killed before it bound
// the name).
//
// shm_unlink(3) by another program removes the file only: gompx processes still attach
// by name, as the holders pass the descriptor, until a gompx Unlink. A file that is not a
// gompx segment makes the name taken: Create fails with EEXIST, as shm_open(O_EXCL).
//
// Where /dev/shm is missing or read-only, a segment's memory file is a memfd with its
// size sealed (what a /dev/shm file cannot have), which has no POSIX name and leaves
// nothing at all behind.

// posixDir is where shm_open looks; a variable so that tests can take it away.
var posixDir = "/dev/shm"

func posixPath(key string) string { return posixDir + "/" + key }

// createFile makes the memory file of a new segment of size bytes called key: the POSIX
// object, or a sealed memfd where /dev/shm cannot be used. The error wraps EEXIST if a
// live segment, or a POSIX object that is not a gompx segment, has the name.
func createFile(key string, size int64) (fd int, posix bool, err error) {
	sweepOnce.Do(sweepStale)
	for attempt := 0; ; attempt++ {
		fd, err = unix.Open(posixPath(key), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|
			unix.O_CLOEXEC, 0o600)
		switch {
		case err == nil:
			if err := unix.Ftruncate(fd, size); err != nil {
				unix.Close(fd)
				unix.Unlink(posixPath(key))
				return -1, false, errs.Errorf("size %s to %d bytes: %w", posixPath(key), size, err)
			}
			return fd, true, nil
		case errors.Is(err, unix.EEXIST) && attempt == 0 && removeIfStale(key):
			continue
		case errors.Is(err, unix.EEXIST), errors.Is(err, unix.ELOOP):
			return -1, false, errs.Errorf("%s exists: %w", posixPath(key), unix.EEXIST)
		}
		// No usable /dev/shm (missing, read-only, not ours, full): no POSIX name.
		fd, err = shm.CreateSealed(memfdName(key), size)
		return fd, false, err
	}
}

// memfdName is the name of a segment's memory file where it is a memfd, as /proc/<pid>/fd
// shows it (after "/memfd:").
func memfdName(key string) string { return "gompx-shm:" + key[:min(len(key), 200)] }

// removeFile removes key's POSIX object if it is the file fd is open on.
func removeFile(key string, fd int) {
	if sameFile(posixPath(key), fd) {
		unix.Unlink(posixPath(key))
	}
}

func sameFile(path string, fd int) bool {
	var a, b unix.Stat_t
	return unix.Fstat(fd, &a) == nil && unix.Lstat(path, &b) == nil &&
		a.Dev == b.Dev && a.Ino == b.Ino
}

// removeIfStale removes key's POSIX object if it is a gompx segment's file whose name no
// holder serves, and reports whether it did.
func removeIfStale(key string) bool {
	fd, err := unix.Open(posixPath(key), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if !isSegmentFile(fd, key) {
		return false
	}
	_, _, sock, err := request(address(os.Geteuid(), key), opProbe, [16]byte{})
	closeFd(sock)
	if !errors.Is(err, errNoServer) {
		return false // served (live, or unlinked and on its way out), or no telling
	}
	removeFile(key, fd)
	return true
}

// isSegmentFile reports whether the file fd is open on has a gompx header, for key,
// after its data: a segment (being) served, or left by holders that were all killed.
func isSegmentFile(fd int, key string) bool {
	var st unix.Stat_t
	page := int64(os.Getpagesize())
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG ||
		st.Size < 2*page || st.Size%page != 0 {
		return false
	}
	var h header
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h))
	if n, err := unix.Pread(fd, buf, st.Size-page); err != nil || n != len(buf) {
		return false
	}
	if atomic.LoadUint64(&h.Magic) == 0 && h.Creator != 0 && unix.Kill(int(h.Creator), 0) == unix.ESRCH {
		// A creator that died before it bound the name (and set the magic) left this:
		// nobody will finish it. A live creator, or a pid since reused, keeps it.
		h.Magic = magic
	}
	return h.Magic == magic && h.check(key, st.Size) == nil
}

var sweepOnce sync.Once

// sweepStale removes the stale segment files in /dev/shm: what holders that were all
// killed left behind.
func sweepStale() {
	entries, err := os.ReadDir(posixDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if key, err := Key(e.Name()); err == nil && key == e.Name() {
				removeIfStale(key)
			}
		}
	}
}
