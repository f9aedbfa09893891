package testpython_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gompx/gompx/internal/testpython"
)

func TestStockAreDistinctCPythons(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range testpython.Stock(t) {
		out, err := exec.Command(p, "-c", "import os, sys; print(os.path.realpath(sys.executable), sys.implementation.name)").Output()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		fields := strings.Fields(string(out))
		if len(fields) != 2 || fields[1] != "cpython" || seen[fields[0]] {
			t.Fatalf("%s is %q: not a distinct CPython", p, out)
		}
		seen[fields[0]] = true
	}
}

func TestOneIsGOMPXPythonWhenSet(t *testing.T) {
	want := testpython.Stock(t)[0]
	t.Setenv(testpython.PythonEnv, want)
	if got := testpython.One(t); got != want {
		t.Fatalf("One = %s with %s=%s", got, testpython.PythonEnv, want)
	}
}
