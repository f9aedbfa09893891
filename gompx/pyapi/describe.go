package pyapi

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/errs"
)

// BuildInfo describes, as a JSON object, the build that read returns (debug.ReadBuildInfo
// outside tests): "go" (the Go version that compiled it), "path" and "version" of the
// main module, "goos", "goarch", and the build settings Go recorded (CGO_ENABLED, vcs,
// vcs.revision, ... as far as present), none of which replaces the fields before.
func BuildInfo(read func() (*debug.BuildInfo, bool)) (string, error) {
	bi, ok := read()
	if !ok {
		return "", errs.New("the extension carries no Go build info (built without module support)")
	}
	out := map[string]string{"go": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH,
		"path": bi.Main.Path, "version": bi.Main.Version}
	for _, s := range bi.Settings {
		if _, taken := out[s.Key]; !taken {
			out[s.Key] = s.Value
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// QueueLayout is gompx.QueueLayout as "name=value" pairs joined by ";", sorted, as the C
// fast path writes its own for a test to compare.
func QueueLayout() string {
	m := gompx.QueueLayout()
	parts := make([]string, 0, len(m))
	for name, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", name, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// DescribeHeap describes every arena of the heap that holds blocks, free or not (one
// that holds none was reset, or never used: it has no memory), each walked under its
// lock. Per arena, a line "arena FD BASE SIZE": the arena file's descriptor (the heap's;
// do not close it), the file offset of its first block, and the bytes cut into blocks so
// far. Then a line per block, in address order, "START STOP free" or "START STOP used":
// its extent (header included) counted from BASE. The blocks tile [0, SIZE).
func DescribeHeap(hp *gompx.SharedHeap) (string, error) {
	arenas, err := hp.Arenas()
	if err != nil {
		return "", err
	}
	var out []byte
	for _, a := range arenas {
		if len(a.Blocks) == 0 {
			continue
		}
		out = fmt.Appendf(out, "arena %d %d %d\n", a.Fd, a.Start, a.End-a.Start)
		for _, b := range a.Blocks {
			state := " used\n"
			if b.Free {
				state = " free\n"
			}
			out = strconv.AppendInt(out, b.Offset-a.Start, 10)
			out = append(out, ' ')
			out = strconv.AppendInt(out, b.Offset-a.Start+b.Size, 10)
			out = append(out, state...)
		}
	}
	return string(out), nil
}
