package cluster

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"
)

// LocalOptions configure StartLocal.
type LocalOptions struct {
	// Command is the path of the gompx command (cmd/gompx). Required.
	Command string
	// Python is the interpreter the workers run tasks with. Required.
	Python string
	// Processes is the number of worker processes.
	Processes int
	// Authkey is handed to the worker (GOMPX_AUTHKEY in its environment).
	Authkey []byte
	// Env is the worker's environment, "KEY=value" each; nil: this process's.
	Env []string
	// Dir is the worker's working directory; "" keeps ours.
	Dir string
	// AckWait of the workers' consumer; 0: 30 s.
	AckWait time.Duration
}

// Local is a private single-node cluster: a `gompx server` on 127.0.0.1 (a free
// port, a temporary store) and one `gompx worker`, both children of this process
// that die with it.
type Local struct {
	url    string
	server *gompx.Process
	worker *gompx.Process
}

// StartLocal starts the server, then the worker, and returns once the server
// accepts clients. ctx bounds the start.
func StartLocal(ctx context.Context, o LocalOptions) (*Local, error) {
	if o.Command == "" || o.Python == "" {
		return nil, errs.New("gompx: StartLocal needs the gompx command and a Python")
	}
	server, url, err := startServer(ctx, o.Command)
	if err != nil {
		return nil, err
	}
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(env[:len(env):len(env)], "GOMPX_AUTHKEY="+hex.EncodeToString(o.Authkey))
	args := []string{o.Command, "worker", url, "--processes", strconv.Itoa(max(o.Processes, 1)),
		"--python", o.Python}
	if o.AckWait > 0 {
		args = append(args, "--ack-wait", o.AckWait.String())
	}
	worker, err := gompx.Start(gompx.Cmd{Path: o.Command, Args: args, Env: env, Dir: o.Dir, KillWithParent: true})
	if err != nil {
		server.Stop(5 * time.Second)
		server.Close()
		return nil, errs.Errorf("gompx: start the local worker: %w", err)
	}
	return &Local{url: url, server: server, worker: worker}, nil
}

// StartLocalServer starts a private `gompx server` on 127.0.0.1 (a free port, a
// temporary store) without a worker: what named queues with cluster="local" share
// within a process and its children. ctx bounds the start.
func StartLocalServer(ctx context.Context, command string) (*Local, error) {
	if command == "" {
		return nil, errs.New("gompx: StartLocalServer needs the gompx command")
	}
	server, url, err := startServer(ctx, command)
	if err != nil {
		return nil, err
	}
	return &Local{url: url, server: server}, nil
}

// startServer runs `gompx server --port 0` and reads the URL it prints.
func startServer(ctx context.Context, command string) (*gompx.Process, string, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, "", errs.Errorf("gompx: pipe: %w", err)
	}
	r := os.NewFile(uintptr(fds[0]), "gompx server stdout")
	defer r.Close()
	p, err := gompx.Start(gompx.Cmd{Path: command, KillWithParent: true, Stdout: fds[1],
		Args: []string{command, "server", "--host", "127.0.0.1", "--port", "0"}})
	unix.Close(fds[1])
	if err != nil {
		return nil, "", errs.Errorf("gompx: start the local server: %w", err)
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	var url string
	select {
	case url = <-line:
	case <-ctx.Done():
	}
	if !strings.HasPrefix(url, "nats://") {
		p.Stop(5 * time.Second)
		p.Close()
		return nil, "", errs.Errorf("gompx: the local server did not start (it printed %q; its stderr is above)", url)
	}
	return p, url, nil
}

// URL is the local server's client URL.
func (l *Local) URL() string { return l.url }

// WorkerPid is the process id of the local `gompx worker` (0 if it has none).
func (l *Local) WorkerPid() int {
	if l.worker == nil {
		return 0
	}
	return l.worker.Pid()
}

// Stop ends the worker (SIGTERM: its running chunks go back to the stream), then the
// server; each is killed if it has not exited after grace. It is idempotent.
func (l *Local) Stop(grace time.Duration) error {
	var failed []error
	for _, p := range []*gompx.Process{l.worker, l.server} {
		if p == nil {
			continue
		}
		if _, exited, err := p.Poll(); err != nil || exited {
			p.Close()
			continue
		}
		if _, err := p.Stop(grace); err != nil {
			failed = append(failed, err)
		}
		p.Close()
	}
	if err := errors.Join(failed...); err != nil {
		return errs.Errorf("gompx: stop the local cluster: %w", err)
	}
	return nil
}
