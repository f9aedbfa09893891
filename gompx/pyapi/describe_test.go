package pyapi

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

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
	s, err := BuildInfo(fake)
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
	if _, err = BuildInfo(func() (*debug.BuildInfo, bool) { return nil, false }); err == nil ||
		!strings.Contains(err.Error(), "no Go build info") {
		t.Errorf("missing build info: err = %v", err)
	}
}

func TestQueueLayoutIsSorted(t *testing.T) {
	parts := strings.Split(QueueLayout(), ";")
	if len(parts) < 2 {
		t.Fatalf("layout %q", parts)
	}
	for i := 1; i < len(parts); i++ {
		if parts[i-1] >= parts[i] || !strings.Contains(parts[i], "=") {
			t.Errorf("layout not sorted name=value pairs at %q, %q", parts[i-1], parts[i])
		}
	}
}
