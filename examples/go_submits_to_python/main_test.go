package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gompx/gompx/gompx"
)

// python finds a stock CPython: GOMPX_PYTHON, a pyenv 3.10-3.13, or python3 on PATH.
func python(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GOMPX_PYTHON"); p != "" {
		return p
	}
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		root = filepath.Join(os.Getenv("HOME"), ".pyenv")
	}
	for _, minor := range []string{"10", "11", "12", "13"} {
		if m, _ := filepath.Glob(filepath.Join(root, "versions", "3."+minor+".*", "bin", "python3."+minor)); len(m) > 0 {
			return m[0]
		}
	}
	if p, err := exec.LookPath("python3"); err == nil {
		return p
	}
	t.Skip("no python3 found (GOMPX_PYTHON, pyenv, PATH)")
	return ""
}

func TestSubmitToPythonWorker(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		var out strings.Builder
		if err := run([]string{"-network", network, "-python", python(t)}, &out); err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		for _, want := range []string{
			"sha256[[104 101 108 108 111 32 102 114 111 109 32 71 111]] -> " + fmt.Sprintf("%x", sha256.Sum256([]byte("hello from Go"))),
			"factorial[30] -> 265252859812191058636308480000000",
			"sorted[[3 1 2]] -> [1 2 3]",
			"pow[2 10 1000] -> 24",
			"pow[x] -> [error TypeError(",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: output lacks %q:\n%s", network, want, out.String())
			}
		}
	}
}

func TestWrongKeyRefused(t *testing.T) {
	cmd, address, err := startWorker(python(t), "unix", "right")
	if err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if _, err := gompx.Dial("unix", address, []byte("wrong")); !errors.Is(err, gompx.ErrAuthentication) {
		t.Fatalf("got %v, want ErrAuthentication", err)
	}
}
