package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gompx/gompx/internal/testpython"

	"github.com/gompx/gompx/gompx"
)

func TestSubmitToPythonWorker(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		var out strings.Builder
		if err := run([]string{"-network", network, "-python", testpython.One(t)}, &out); err != nil {
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
	cmd, address, err := startWorker(testpython.One(t), "unix", "right")
	if err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if _, err := gompx.Dial("unix", address, []byte("wrong")); !errors.Is(err, gompx.ErrAuthentication) {
		t.Fatalf("got %v, want ErrAuthentication", err)
	}
}
