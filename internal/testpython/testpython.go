// Package testpython finds the CPython interpreters that Go tests run against: one rule
// for every test in the module that starts Python, so that `make test-go` (which sets
// GOMPX_PYTHON) and a bare `go test` pick the same way, and none skips without saying why.
package testpython

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Environment variables that choose the interpreters.
const (
	// PythonEnv names one interpreter: the one with gompx installed, for tests that need
	// it, and the first of Stock.
	PythonEnv = "GOMPX_PYTHON"
	// PythonsEnv lists interpreters (colon-separated) that replace the search of Stock.
	PythonsEnv = "GOMPX_PYTHONS"
)

// Stock returns every CPython 3.10-3.13 to test against, each once by its real path
// (pyenv shims, which add ~0.5 s to each start, are never used): GOMPX_PYTHONS if set;
// else GOMPX_PYTHON, each pyenv version (PYENV_ROOT, else ~/.pyenv), python3.10 to
// python3.13 and python3 on PATH. The test fails if there is none.
func Stock(t testing.TB) []string {
	t.Helper()
	if env := os.Getenv(PythonsEnv); env != "" {
		return strings.Split(env, ":")
	}
	var found []string
	seen := map[string]bool{}
	add := func(p string) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] || strings.Contains(p, "/shims/") {
			return
		}
		out, err := exec.Command(p, "-c", "import sys; print(sys.version_info[:2] >= (3, 10))").Output()
		if err != nil || strings.TrimSpace(string(out)) != "True" {
			return
		}
		seen[real] = true
		found = append(found, p)
	}
	if p := os.Getenv(PythonEnv); p != "" {
		add(p)
	}
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		root = filepath.Join(os.Getenv("HOME"), ".pyenv")
	}
	for _, minor := range []string{"10", "11", "12", "13"} {
		matches, _ := filepath.Glob(filepath.Join(root, "versions", "3."+minor+".*", "bin", "python3."+minor))
		for _, m := range matches {
			add(m)
		}
		if p, err := exec.LookPath("python3." + minor); err == nil {
			add(p)
		}
	}
	if p, err := exec.LookPath("python3"); err == nil {
		add(p)
	}
	if len(found) == 0 {
		t.Fatalf("no CPython 3.10-3.13 found: set %s (one interpreter) or %s (a colon-separated list)",
			PythonEnv, PythonsEnv)
	}
	return found
}

// One returns a CPython to test against: GOMPX_PYTHON if set, else the first of Stock.
func One(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(PythonEnv); p != "" {
		return p
	}
	return Stock(t)[0]
}

// WithGompx returns a CPython that imports module (a gompx module): GOMPX_PYTHON, which
// must (the test fails if it cannot), or else the first of Stock that does. With neither,
// the test is skipped, saying how to run it.
func WithGompx(t testing.TB, module string) string {
	t.Helper()
	if p := os.Getenv(PythonEnv); p != "" {
		if out, err := exec.Command(p, "-c", "import "+module).CombinedOutput(); err != nil {
			t.Fatalf("%s=%s cannot import %s: %v\n%s", PythonEnv, p, module, err, out)
		}
		return p
	}
	for _, p := range Stock(t) {
		if exec.Command(p, "-c", "import "+module).Run() == nil {
			return p
		}
	}
	t.Skipf("no CPython here imports %s: install gompx and set %s (make test-go does)", module, PythonEnv)
	return ""
}
