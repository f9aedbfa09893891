// Command go_submits_to_python is a Go program that hands work to a stock CPython
// worker listening with multiprocessing.connection.Listener (worker.py beside this
// file, standard library only):
//
//	python3 examples/go_submits_to_python/worker.py          # prints its address
//	go run ./examples/go_submits_to_python -addr ADDRESS
//
// or, starting the worker itself:
//
//	go run ./examples/go_submits_to_python -python python3
//
// It dials with the shared authkey (the handshake CPython 3.10-3.13 speaks), sends
// each job as a pickled tuple (function name, args), prints the results, and sends
// None to end the worker.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/pickle"
)

var jobs = []pickle.Tuple{
	{"sha256", pickle.Tuple{[]byte("hello from Go")}},
	{"factorial", pickle.Tuple{30}}, // beyond 64 bits: comes back as a *big.Int
	{"sorted", pickle.Tuple{[]any{3, 1, 2}}},
	{"pow", pickle.Tuple{2, 10, 1000}},
	{"pow", pickle.Tuple{"x"}}, // a Python TypeError, answered as ("error", ...)
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "go_submits_to_python:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("go_submits_to_python", flag.ContinueOnError)
	network := flags.String("network", "unix", `"unix" or "tcp"`)
	addr := flags.String("addr", "", "the worker's address (as worker.py prints it)")
	authkey := flags.String("authkey", "secret", "shared key")
	python := flags.String("python", "", "start worker.py with this Python")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *python != "" {
		cmd, address, err := startWorker(*python, *network, *authkey)
		if err != nil {
			return err
		}
		defer cmd.Wait()
		defer cmd.Process.Kill() // only if we fail before sending None
		*addr = address
	}
	if *addr == "" {
		return fmt.Errorf("give -addr (start worker.py first) or -python")
	}
	c, err := gompx.Dial(*network, *addr, []byte(*authkey))
	if err != nil {
		return err
	}
	defer c.Close()
	for _, job := range jobs {
		if err := c.Send(job); err != nil {
			return err
		}
		result, err := c.Recv()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%v%v -> %v\n", job[0], job[1], result)
	}
	return c.Send(nil)
}

// startWorker runs worker.py (next to this source file) and reads its address.
func startWorker(python, network, authkey string) (*exec.Cmd, string, error) {
	_, here, _, _ := runtime.Caller(0)
	cmd := exec.Command(python, filepath.Join(filepath.Dir(here), "worker.py"), network, authkey)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", fmt.Errorf("worker.py printed no address")
	}
	return cmd, lines.Text(), nil
}
