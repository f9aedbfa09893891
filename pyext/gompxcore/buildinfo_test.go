package gompxcore

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
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

func TestBuildInfoSettingsAndMissing(t *testing.T) {
	fake := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{
			Main: debug.Module{Path: "github.com/gompx/gompx", Version: "v0.1.0"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "abc123"},
				{Key: "go", Value: "must not replace the Go version"},
			},
		}, true
	}
	s, err := buildInfoJSON(fake)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != "v0.1.0" || got["vcs.revision"] != "abc123" || got["go"] != runtime.Version() {
		t.Errorf("got %v", got)
	}
	_, err = buildInfoJSON(func() (*debug.BuildInfo, bool) { return nil, false })
	if err == nil || !strings.HasPrefix(describe(err), "gompx:RuntimeError:0:") {
		t.Errorf("missing build info: err = %v", err)
	}
}
