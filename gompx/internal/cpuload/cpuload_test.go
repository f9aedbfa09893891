package cpuload

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseRunnable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0.50 0.40 0.30 3/278 12345\n", 3, true},
		{"17.86 14.76 7.85 26/278 18301\n", 26, true},
		{"0.00 0.00 0.00 1/1 1", 1, true},
		{"0.50 0.40 0.30 /278 12345", 0, false}, // no digits
		{"0.50 0.40 0.30 3", 0, false},          // no '/'
		{"0.50 0.40", 0, false},                 // too few fields
		{"", 0, false},
	} {
		got, ok := parseRunnable([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRunnable(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// Busy follows the file: more runnable tasks than CPUs is busy, as many is not, and an
// unreadable file is not (the callers then keep spinning as before).
func TestBusyFollowsRunnable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loadavg")
	defer func(p string, n int) { loadavg, ncpu = p, n; nextAt.Store(0) }(loadavg, ncpu)
	loadavg, ncpu = path, 2
	for _, tc := range []struct {
		content string // "" : no file
		want    bool
	}{
		{"1.00 1.00 1.00 3/100 1\n", true},
		{"1.00 1.00 1.00 2/100 1\n", false},
		{"", false},
		{"9.00 9.00 9.00 9/100 1\n", true},
		{"garbage\n", false},
	} {
		os.Remove(path)
		if tc.content != "" {
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		nextAt.Store(0) // the reading is stale
		if got := Busy(); got != tc.want {
			t.Errorf("Busy() with %q = %v, want %v", tc.content, got, tc.want)
		}
	}
}

// The real file parses on this machine.
func TestRunnableReadsProc(t *testing.T) {
	if n, ok := runnable(); !ok || n < 1 {
		t.Fatalf("runnable() = %d, %v: /proc/loadavg did not parse", n, ok)
	}
}

func BenchmarkBusy(b *testing.B) {
	for range b.N {
		Busy()
	}
}

func BenchmarkRunnable(b *testing.B) {
	for range b.N {
		runnable()
	}
}
