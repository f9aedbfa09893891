package pyapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/gompx/gompx/gompx/goserve"
	"github.com/gompx/gompx/gompx/internal/errs"

	"github.com/gompx/gompx/gompx"
)

// ParseProcessSpec reads the description of a child the Python layer sends: NUL-terminated
// fields, path, working directory ("" for the parent's), kill-with-parent ("1"/"0"), the
// number of passed descriptors and each of them, the number of arguments and each of
// them, the number of environment entries and each of them. The child's standard streams
// are the parent's.
func ParseProcessSpec(spec []byte) (gompx.Cmd, error) {
	fields := strings.Split(strings.TrimSuffix(string(spec), "\x00"), "\x00")
	next := func() (string, error) {
		if len(fields) == 0 {
			return "", errs.New("truncated")
		}
		f := fields[0]
		fields = fields[1:]
		return f, nil
	}
	list := func() ([]string, error) {
		count, err := next()
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 || n > len(fields) {
			return nil, errs.Errorf("bad count %q", count)
		}
		out := fields[:n:n]
		fields = fields[n:]
		return out, nil
	}
	cmd := gompx.Cmd{Stdin: 0, Stdout: 1, Stderr: 2}
	var err error
	var killWithParent string
	var files []string
	if cmd.Path, err = next(); err != nil {
		return cmd, err
	}
	if cmd.Dir, err = next(); err != nil {
		return cmd, err
	}
	if killWithParent, err = next(); err != nil {
		return cmd, err
	}
	cmd.KillWithParent = killWithParent == "1"
	if files, err = list(); err != nil {
		return cmd, err
	}
	for _, f := range files {
		fd, err := strconv.Atoi(f)
		if err != nil || fd < 0 {
			return cmd, errs.Errorf("bad descriptor %q", f)
		}
		cmd.Files = append(cmd.Files, fd)
	}
	if cmd.Args, err = list(); err != nil {
		return cmd, err
	}
	if cmd.Env, err = list(); err != nil {
		return cmd, err
	}
	if len(fields) != 0 {
		return cmd, errs.Errorf("%d unexpected trailing fields", len(fields))
	}
	return cmd, nil
}

// ParseGoPoolSpec reads the description of a pool of Go workers the Python layer sends
// (goworkers.GoPool): NUL-terminated fields, the worker binary's path, its working
// directory, the number of workers, their start timeout in milliseconds, the number of
// arguments and each of them, the number of environment entries and each of them.
func ParseGoPoolSpec(spec []byte) (goserve.Options, error) {
	fields := strings.Split(strings.TrimSuffix(string(spec), "\x00"), "\x00")
	var opts goserve.Options
	if len(fields) < 6 {
		return opts, errs.New("truncated")
	}
	opts.Path, opts.Dir = fields[0], fields[1]
	workers, err1 := strconv.Atoi(fields[2])
	timeoutMs, err2 := strconv.Atoi(fields[3])
	if err1 != nil || err2 != nil || workers < 1 || timeoutMs < 0 {
		return opts, errs.Errorf("bad workers %q or timeout %q", fields[2], fields[3])
	}
	opts.Workers, opts.StartTimeout = workers, time.Duration(timeoutMs)*time.Millisecond
	rest := fields[4:]
	list := func() ([]string, error) {
		n, err := strconv.Atoi(rest[0])
		if err != nil || n < 0 || n > len(rest)-1 {
			return nil, errs.Errorf("bad count %q", rest[0])
		}
		out := rest[1 : 1+n : 1+n]
		rest = rest[1+n:]
		return out, nil
	}
	var err error
	if opts.Args, err = list(); err != nil {
		return opts, err
	}
	if len(rest) == 0 {
		return opts, errs.New("truncated")
	}
	if opts.Env, err = list(); err != nil {
		return opts, err
	}
	if len(rest) != 0 {
		return opts, errs.Errorf("%d unexpected trailing fields", len(rest))
	}
	return opts, nil
}
