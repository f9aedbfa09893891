package gompxcore

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
)

// BuildInfo describes how this extension was built, as a JSON object: "go" (the Go
// version that compiled it), "path" and "version" of the main module (the gompx module;
// "(devel)" when built from a tree without a version), "goos", "goarch", and the build
// settings Go recorded (CGO_ENABLED, vcs, vcs.revision, vcs.time, vcs.modified, ... as
// far as present; a build from an sdist has no vcs fields). `python -m gompx --version`
// prints it.
func BuildInfo() (info string, err error) {
	defer recoverInto(&err)
	return buildInfoJSON(debug.ReadBuildInfo)
}

// buildInfoJSON is BuildInfo with the source of Go's record as a parameter, for tests.
func buildInfoJSON(read func() (*debug.BuildInfo, bool)) (string, error) {
	bi, ok := read()
	if !ok {
		return "", newPyError(ErrKindRuntimeError, "the extension carries no Go build info (built without module support)")
	}
	out := map[string]string{
		"go":      runtime.Version(),
		"goos":    runtime.GOOS,
		"goarch":  runtime.GOARCH,
		"path":    bi.Main.Path,
		"version": bi.Main.Version,
	}
	for _, s := range bi.Settings {
		if _, taken := out[s.Key]; !taken {
			out[s.Key] = s.Value
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", translate(err)
	}
	return string(b), nil
}
