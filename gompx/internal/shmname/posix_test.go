package shmname

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gompx/gompx/gompx/internal/shm"
	"golang.org/x/sys/unix"
)

// withoutDevShm makes this test's segments, and its children's, memfds: no /dev/shm.
func withoutDevShm(t *testing.T) {
	dir := t.TempDir() + "/no-dev-shm"
	t.Setenv(childPosixDir, dir)
	old := posixDir
	posixDir = dir
	t.Cleanup(func() { posixDir = old })
}

// openLikeShmOpen opens a POSIX name as glibc's shm_open(3) does.
func openLikeShmOpen(name string) (int, error) {
	return unix.Open("/dev/shm/"+strings.TrimLeft(name, "/"), unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// A process that knows nothing of gompx opens the POSIX name as shm_open(3) does and
// shares the data both ways, from offset 0.
func TestPOSIXNameOpensTheData(t *testing.T) {
	name := testName(t)
	s := mustCreate(t, "/"+name, 10000)
	data, err := mapData(s)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Unmap(data)
	copy(data, "from gompx")

	fd, err := openLikeShmOpen(name)
	if err != nil {
		t.Fatalf("open the POSIX name: %v", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	if want := int64(headerOffset(10000)) + int64(os.Getpagesize()); st.Size != want {
		t.Fatalf("the POSIX file has %d bytes, want %d (data pages + header page)", st.Size, want)
	}
	foreign, err := shm.MapRange(fd, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Unmap(foreign)
	if !bytes.HasPrefix(foreign, []byte("from gompx")) {
		t.Fatalf("the foreign mapping starts with %q", foreign[:10])
	}
	copy(foreign[5000:], "from outside")
	if !bytes.HasPrefix(data[5000:], []byte("from outside")) {
		t.Fatal("a write through the POSIX name is not seen in the segment")
	}
}

// The POSIX file goes with the segment: Unlink, or the Close of its last holder. A
// foreign shm_unlink removes the file only: the segment stays named for gompx.
func TestPOSIXNameGoesWithTheSegment(t *testing.T) {
	for _, end := range []string{"unlink", "close", "foreign unlink"} {
		t.Run(strings.ReplaceAll(end, " ", "-"), func(t *testing.T) {
			name := testName(t)
			s, err := Create(name, 100)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !sameFile(posixPath(name), s.Fd()) {
				t.Fatal("the POSIX name is not the segment's file")
			}
			switch end {
			case "unlink":
				s.Unlink()
			case "close":
				s.Close()
			case "foreign unlink":
				if err := unix.Unlink(posixPath(name)); err != nil {
					t.Fatal(err)
				}
				other, err := Open(name)
				if err != nil {
					t.Fatalf("open by name after a foreign unlink of the POSIX file: %v", err)
				}
				other.Close()
				if err := s.Unlink(); err != nil {
					t.Fatalf("unlink after a foreign unlink of the POSIX file: %v", err)
				}
			}
			if _, err := os.Lstat(posixPath(name)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the POSIX file is left after %s: %v", end, err)
			}
		})
	}
}

// The file stays while any holder does: the creator's Close hands the name over.
func TestPOSIXNameStaysWithTheOtherHolders(t *testing.T) {
	name := testName(t)
	s, err := Create(name, patternSize)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := mapData(s)
	copy(data, pattern(patternSize))
	shm.Unmap(data)
	c := startChild(t, "open-and-hold", name)
	s.Close()
	fd, err := openLikeShmOpen(name)
	if err != nil {
		t.Fatalf("the POSIX name went with the creator's Close: %v", err)
	}
	unix.Close(fd)
	c.kill(t)
}

// A POSIX object that is no gompx segment has the name: Create fails as
// shm_open(O_CREAT|O_EXCL) would, and leaves the object alone.
func TestCreateRefusesANameAPOSIXObjectHas(t *testing.T) {
	name := testName(t)
	for _, object := range []string{"empty", "symlink", "big"} {
		t.Run(object, func(t *testing.T) {
			path := posixPath(name + object)
			switch object {
			case "empty":
				os.WriteFile(path, nil, 0o600)
			case "symlink":
				os.Symlink("/nowhere", path)
			case "big":
				os.WriteFile(path, make([]byte, 3*os.Getpagesize()), 0o600)
			}
			defer os.Remove(path)
			if s, err := Create(name+object, 100); !errors.Is(err, unix.EEXIST) {
				if err == nil {
					s.Close()
				}
				t.Fatalf("create over a POSIX object: %v, want EEXIST", err)
			}
			if _, err := os.Lstat(path); err != nil {
				t.Fatalf("the POSIX object was removed: %v", err)
			}
			if bound(t, name+object) {
				t.Fatal("the refused Create left its name bound")
			}
		})
	}
}

// writeSegmentFile writes the POSIX file a segment of 100 bytes called key would have,
// with no holder serving it; without the magic, as while its creator binds the name.
func writeSegmentFile(t *testing.T, key string, withMagic bool) {
	t.Helper()
	page := os.Getpagesize()
	file := make([]byte, 2*page)
	h := headerOf(file[page:])
	*h = header{Size: 100, HdrOff: uint64(page), NameLen: uint32(len(key))}
	copy(h.Name[:], key)
	if withMagic {
		h.Magic = magic
	}
	if err := os.WriteFile(posixPath(key), file, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(posixPath(key)) })
}

// The sweep removes the files of segments nobody serves, and keeps live segments', a
// segment's being created (no magic yet) and other files.
func TestSweepRemovesStaleFiles(t *testing.T) {
	name := testName(t)
	live := mustCreate(t, name+"-live", 100)
	writeSegmentFile(t, name+"-stale", true)
	writeSegmentFile(t, name+"-creating", false)
	writeSegmentFile(t, name+"-misnamed", true)
	os.Rename(posixPath(name+"-misnamed"), posixPath(name+"-renamed"))
	defer os.Remove(posixPath(name + "-renamed"))
	os.WriteFile(posixPath(name+"-other"), make([]byte, 2*os.Getpagesize()), 0o600)
	defer os.Remove(posixPath(name + "-other"))

	sweepStale()
	if _, err := os.Lstat(posixPath(name + "-stale")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stale file was kept: %v", err)
	}
	for _, kept := range []string{"-live", "-creating", "-renamed", "-other"} {
		if _, err := os.Lstat(posixPath(name + kept)); err != nil {
			t.Errorf("%s removed: %v", kept, err)
		}
	}
	if !sameFile(posixPath(name+"-live"), live.Fd()) {
		t.Error("the live segment's file changed")
	}
	// Create takes a stale file's name at once.
	writeSegmentFile(t, name+"-again", true)
	mustCreate(t, name+"-again", 10)
}

// Without a usable /dev/shm the memory file is a sealed memfd, reached by name as ever.
func TestMemfdWithoutDevShm(t *testing.T) {
	withoutDevShm(t)
	name := testName(t)
	s := mustCreate(t, name, patternSize)
	if link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(s.Fd())); !strings.HasPrefix(link, "/memfd:") {
		t.Fatalf("the memory file is %q, not a memfd", link)
	}
	if _, err := shm.CheckSealed(s.Fd()); err != nil {
		t.Fatalf("the memfd's size is not sealed: %v", err)
	}
	if _, err := os.Lstat("/dev/shm/" + name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("/dev/shm has the name: %v", err)
	}
	data, _ := mapData(s)
	copy(data, pattern(patternSize))
	shm.Unmap(data)
	c := startChild(t, "open-and-hold", name)
	c.kill(t)
}
