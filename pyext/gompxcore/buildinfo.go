package gompxcore

import (
	"runtime/debug"

	"github.com/gompx/gompx/gompx/pyapi"
)

// BuildInfo describes how this extension was built, as a JSON object: "go" (the Go
// version that compiled it), "path" and "version" of the main module (the gompx module;
// "(devel)" when built from a tree without a version), "goos", "goarch", and the build
// settings Go recorded (CGO_ENABLED, vcs, vcs.revision, vcs.time, vcs.modified, ... as
// far as present; a build from an sdist has no vcs fields). `python -m gompx --version`
// prints it.
func BuildInfo() (info string, err error) {
	defer recoverInto(&err)
	info, err = pyapi.BuildInfo(debug.ReadBuildInfo)
	if err != nil {
		return "", newPyError(ErrKindRuntimeError, "%v", err)
	}
	return info, nil
}
