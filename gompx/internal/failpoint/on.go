//go:build gompx_failpoints

package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Enabled reports whether this build has failpoints (the gompx_failpoints tag).
const Enabled = true

type action struct {
	kind string       // kill, stall or error
	at   int64        // fire on this hit (1: the first)
	hits atomic.Int64 // times the point was reached
}

var armed = parse(os.Getenv(Env))

// parse reads GOMPX_FAILPOINTS; a malformed value or an unknown point ends the process
// (a failpoint that can never fire would let a test pass for the wrong reason).
func parse(spec string) map[string]*action {
	m := map[string]*action{}
	for _, item := range strings.Split(spec, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, act, ok := strings.Cut(item, "=")
		kind, nth, hasNth := strings.Cut(act, "@")
		at := int64(1)
		if hasNth {
			n, err := strconv.ParseInt(nth, 10, 64)
			if err != nil || n < 1 {
				ok = false
			}
			at = n
		}
		p, known := Points[name]
		if !known || !ok || (kind != "kill" && kind != "stall" && (kind != "error" || !p.CanFail)) {
			fmt.Fprintf(os.Stderr, "gompx: %s: %q is not POINT=kill|stall[@N] with a known point, "+
				"or POINT=error[@N] with one that can fail\n", Env, item)
			os.Exit(2)
		}
		m[name] = &action{kind: kind, at: at}
	}
	return m
}

// Inject runs the action armed at point name, if any, and returns an error wrapping
// ErrInjected for an "error" action; otherwise nil.
func Inject(name string) error {
	a := armed[name]
	if a == nil || a.hits.Add(1) != a.at {
		return nil
	}
	switch a.kind {
	case "kill":
		_ = unix.Kill(os.Getpid(), unix.SIGKILL)
		select {} // the signal is on its way; nothing past this point may run
	case "stall":
		for {
			time.Sleep(time.Hour)
		}
	}
	return fmt.Errorf("%s: %w", name, ErrInjected)
}

// Hit runs the kill or stall armed at point name, if any: for points that cannot fail.
func Hit(name string) { _ = Inject(name) }

// Armed reports whether point name is armed in this process.
func Armed(name string) bool { return armed[name] != nil }

// Actions lists the armed points whose names start with prefix, each as "kind@N": what
// code outside Go (the C fast paths, which have failpoints of their own) needs to run
// the one spec this package parsed.
func Actions(prefix string) map[string]string {
	out := map[string]string{}
	for name, a := range armed {
		if strings.HasPrefix(name, prefix) {
			out[name] = a.kind + "@" + strconv.FormatInt(a.at, 10)
		}
	}
	return out
}
