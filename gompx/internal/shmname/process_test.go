package shmname

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/internal/shm"
	"golang.org/x/sys/unix"
)

func TestChildAttachesByName(t *testing.T) {
	name := testName(t)
	s := mustCreate(t, name, patternSize)
	data, err := mapData(s)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Unmap(data)
	copy(data, pattern(patternSize))
	startChild(t, "open-and-write", name).wait(t)
	if string(data[:5]) != "child" {
		t.Fatalf("the child's write did not arrive: %q", data[:5])
	}
}

// The creator, the binder, dies; the parent, a stand-by, takes the name over.
func TestBinderDiesStandByTakesOver(t *testing.T) {
	name := testName(t)
	c := startChild(t, "create-and-hold", name)
	s := mustOpen(t, name)
	if err := checkPattern(s); err != nil {
		t.Fatal(err)
	}
	c.kill(t)
	start := time.Now()
	again := mustOpen(t, name) // within Open's retry: the stand-by binds in time
	t.Logf("the stand-by served the name %v after the binder was reaped", time.Since(start))
	if err := checkPattern(again); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(name, 10); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("create over a live name: %v, want EEXIST", err)
	}
	s.Close()
	again.Close()
	unboundSoon(t, name)
}

// SIGKILL of the creator and every attacher leaves no name and no process holding the
// memory file. What stays, where the file is a POSIX object, is that file, stale: the
// next Create of the name removes it (as the first Create in any process sweeps every
// stale file). Where the file is a memfd nothing stays: the kernel freed the memory.
func TestKillEveryHolder(t *testing.T) {
	for _, posix := range []bool{true, false} {
		t.Run(map[bool]string{true: "posix", false: "memfd"}[posix], func(t *testing.T) {
			if !posix {
				withoutDevShm(t)
			}
			name := testName(t)
			holders := []*child{startChild(t, "create-and-hold", name)}
			for range 2 {
				holders = append(holders, startChild(t, "open-and-hold", name))
			}
			if !bound(t, name) {
				t.Fatal("the name is not bound while three processes hold it")
			}
			users := segmentUsers(t, name)
			for _, c := range holders {
				if !users[c.cmd.Process.Pid] {
					t.Fatalf("holder %d does not show the memory file (users %v)", c.cmd.Process.Pid, users)
				}
				c.kill(t)
			}
			if bound(t, name) {
				t.Fatal("the name outlived its holders")
			}
			if _, err := Open(name); !errors.Is(err, unix.ENOENT) {
				t.Fatalf("open after every holder died: %v, want ENOENT", err)
			}
			if users := segmentUsers(t, name); len(users) > 0 {
				t.Fatalf("processes %v still hold the memory file", users)
			}
			_, err := os.Lstat("/dev/shm/" + name)
			if !posix {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("/dev/shm/%s exists for a memfd segment: %v", name, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("the stale POSIX file is not there to remove: %v", err)
			}
			s, err := Create(name, 100)
			if err != nil {
				t.Fatalf("create over the stale file: %v", err)
			}
			if !sameFile(posixPath(name), s.Fd()) {
				t.Fatal("the POSIX name is not the new segment's file")
			}
			s.Unlink()
			s.Close()
			if _, err := os.Lstat(posixPath(name)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the POSIX file outlived Unlink: %v", err)
			}
		})
	}
}

// segmentUsers returns the processes that have the memory file of segment name open or
// mapped (all processes' when run as root, else this user's): a memfd, or its POSIX file.
func segmentUsers(t *testing.T, name string) map[int]bool {
	t.Helper()
	tags := []string{"/memfd:gompx-shm:" + name + " (deleted)", "/dev/shm/" + name,
		"/dev/shm/" + name + " (deleted)"}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("cannot list /proc: %v", err)
	}
	users := map[int]bool{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			if link, _ := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); slices.Contains(tags, link) {
				users[pid] = true
			}
		}
		if maps, err := os.ReadFile(filepath.Join("/proc", p.Name(), "maps")); err == nil {
			for _, tag := range tags {
				if strings.Contains(string(maps), " "+tag+"\n") {
					users[pid] = true
				}
			}
		}
	}
	return users
}

// Another user reaches the address of this user's segment: the binder refuses it, and
// the other user's client refuses a binder that is not its own user.
func TestAnotherUserIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child as another user")
	}
	name := testName(t)
	s := mustCreate(t, name, 10)
	// The test binary sits in a private build directory: copy it where the other user can run it.
	dir, err := os.MkdirTemp("", "gompx-shmname-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	exe, _ := os.Executable()
	copyExe := filepath.Join(dir, "shmname.test")
	if err := copyFile(exe, copyExe); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyExe)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	runChild(t, cmd, "foreign", name, childAddr+"="+s.addr).wait(t)
	if err := checkPeerStillServes(name); err != nil {
		t.Fatal(err)
	}
}

func checkPeerStillServes(name string) error {
	s, err := Open(name)
	if err != nil {
		return err
	}
	return s.Close()
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// A parent passes the memory file to its child and closes its own hold before the child
// could have attached by name: the child holds the segment and serves the name.
func TestChildAdoptsPassedFd(t *testing.T) {
	name := testName(t)
	s := mustCreate(t, name, patternSize)
	data, _ := mapData(s)
	copy(data, pattern(patternSize))
	shm.Unmap(data)
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	// A copy: the File closes its descriptor (at the latest when the collector finds it),
	// and the segment's own must stay open while it serves.
	dup, err := unix.FcntlInt(uintptr(s.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "segment")
	defer f.Close()
	cmd.ExtraFiles = []*os.File{f}
	c := runChild(t, cmd, "adopt-and-hold", name)
	s.Close()
	again := mustOpen(t, name) // served by the child now
	if err := checkPattern(again); err != nil {
		t.Fatal(err)
	}
	again.Close()
	c.kill(t)
	if bound(t, name) {
		t.Fatal("the name outlived the child")
	}
	// Killed holding it, the child left the POSIX file: stale, and removable as such.
	if !removeIfStale(name) {
		t.Fatal("the file the killed child left is not taken for stale")
	}
}
