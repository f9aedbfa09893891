package gompxcore

import (
	"encoding/json"
	"runtime"
	"testing"
)

func TestBuildInfo(t *testing.T) {
	s, err := BuildInfo()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		t.Fatalf("not JSON: %v: %q", err, s)
	}
	if got["go"] != runtime.Version() || got["goarch"] != runtime.GOARCH || got["goos"] != runtime.GOOS {
		t.Errorf("go/goos/goarch = %q/%q/%q", got["go"], got["goos"], got["goarch"])
	}
	// A test binary's main module is the module under test.
	if got["path"] != "github.com/gompx/gompx" {
		t.Errorf("path = %q, want github.com/gompx/gompx", got["path"])
	}
}
