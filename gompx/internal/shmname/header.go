package shmname

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"
)

// header is the last page of the memory file, after the data, which starts at offset 0
// so that a process that opens the file through its POSIX name (posix.go) and maps it
// from the start, as shm_open users do, sees the data where it expects it. One layout on
// every architecture: fixed-size fields, every one aligned to its size. Only Unlinked
// changes after the name is bound, and only through sync/atomic.
type header struct {
	Magic    uint64        // creator writes before binding the name; attachers check it
	Size     uint64        // creator writes: the data bytes asked for (not page-rounded)
	HdrOff   uint64        // creator writes: where this header starts, Size rounded up to the page size
	ID       [16]byte      // creator writes: random, tells this segment from a later one of the same name
	Unlinked uint32        // 0, then 1 for good: whoever unlinks sets it (CAS); binders, stand-bys and attachers read it
	Creator  uint32        // creator writes its pid; a sweep removes a file without Magic once it is gone
	NameLen  uint32        // creator writes: bytes of Name in use
	Holders  uint32        // each holder adds 1 as it starts holding, takes 1 at Close (atomic); who takes the last removes the POSIX file
	Name     [MaxName]byte // creator writes the key (the name without leading slashes); attachers compare it
}

const (
	magic = 0x324d48535850_4d47 // "GMPXSHM2" (SHM1 had the header first)

	// MaxName is the longest key in bytes, as NAME_MAX for POSIX shared memory names.
	MaxName = 255

	// abstractPrefix starts every address in the abstract socket namespace; the uid
	// keeps users apart (sockets there have no permissions of their own).
	abstractPrefix = "gompx-shm/"
	// maxAbstract is the room in sun_path after the leading NUL.
	maxAbstract = 107
)

var _ [0]byte = [unsafe.Sizeof(header{}) - 312]byte{} // the layout above, checked at compile time

// headerOffset is where the header of a segment of size data bytes starts: the data
// rounded up to whole pages. The memory file is one page longer.
func headerOffset(size int64) uint64 {
	page := uint64(os.Getpagesize())
	return (uint64(size) + page - 1) &^ (page - 1)
}

func headerOf(mem []byte) *header { return (*header)(unsafe.Pointer(&mem[0])) }

func (h *header) unlinked() bool { return atomic.LoadUint32(&h.Unlinked) != 0 }

// markUnlinked sets Unlinked and reports whether this call set it.
func (h *header) markUnlinked() bool { return atomic.CompareAndSwapUint32(&h.Unlinked, 0, 1) }

func (h *header) key() string { return string(h.Name[:min(h.NameLen, MaxName)]) }

// Key returns the name a segment is known by: name without its leading slashes, as
// shm_open(3) reads names. The errors are those shm_open gives, unwrapped: EINVAL for an
// empty name, one with a slash or NUL inside, or "." or ".."; ENAMETOOLONG past MaxName bytes.
func Key(name string) (string, error) {
	key := strings.TrimLeft(name, "/")
	switch {
	case key == "", key == ".", key == "..", strings.ContainsAny(key, "/\x00"):
		return "", unix.EINVAL
	case len(key) > MaxName:
		return "", unix.ENAMETOOLONG
	}
	return key, nil
}

// address is the abstract socket address (in Go's net notation, '@' for the NUL) that
// serves key for user uid. A key too long for sun_path is replaced by its SHA-256; keys
// never hold a slash, so a hashed address cannot be another key's.
func address(uid int, key string) string {
	base := fmt.Sprintf("%s%d/", abstractPrefix, uid)
	if len(base)+len(key) > maxAbstract {
		sum := sha256.Sum256([]byte(key))
		key = "sha256/" + hex.EncodeToString(sum[:])
	}
	return "@" + base + key
}

// check validates a header an attacher received for key in a file of fileSize bytes.
func (h *header) check(key string, fileSize int64) error {
	switch {
	case h.Magic != magic:
		return errs.Errorf("not a gompx shared memory segment (magic %#x)", h.Magic)
	case h.Size == 0 || h.HdrOff != headerOffset(int64(h.Size)) ||
		h.HdrOff+uint64(os.Getpagesize()) != uint64(fileSize):
		return errs.Errorf("size %d and header offset %d do not match the file's %d bytes",
			h.Size, h.HdrOff, fileSize)
	case h.NameLen > MaxName || !bytes.Equal(h.Name[:h.NameLen], []byte(key)):
		return errs.Errorf("segment is named %q, not %q", h.key(), key)
	}
	if k, err := Key(key); err != nil || k != key {
		return errs.Errorf("segment name %q is not a key", key)
	}
	return nil
}
