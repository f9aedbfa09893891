// Command go_accepts_python is a Go worker that stock CPython processes submit jobs to
// with nothing but the standard library:
//
//	from multiprocessing.connection import Client
//	with Client(address, authkey=b"secret") as c:  # the address this program prints
//	    c.send(("sum", [1, 2, 3]))
//	    print(c.recv())                            # 6
//	    c.send(None)                               # done
//
// It listens (an AF_UNIX socket in a private temporary directory unless -addr says
// otherwise), prints the address as a Python literal, and serves -n clients one after
// the other. Jobs are tuples: ("sum", [numbers]), ("upper", str), ("len", bytes); a
// job it does not know is answered ("error", message). With -python PATH it starts
// that interpreter on a small client script itself, so the whole exchange runs with
//
//	go run ./examples/go_accepts_python -python python3
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/pickle"
)

// clientScript is the Python side run by -python: a few jobs, results on stdout.
const clientScript = `
import ast, sys
from multiprocessing.connection import Client
with Client(ast.literal_eval(sys.argv[1]), authkey=sys.argv[2].encode()) as c:
    for job in [("sum", [1, 2, 3.5]), ("upper", "gompx"), ("len", b"12345"), ("nope",)]:
        c.send(job)
        print(job[0], "->", c.recv())
    c.send(None)
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "go_accepts_python:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("go_accepts_python", flag.ContinueOnError)
	network := flags.String("network", "unix", `"unix" or "tcp"`)
	addr := flags.String("addr", "", "address to listen on (default: a free one)")
	authkey := flags.String("authkey", "secret", "shared key (empty: no authentication)")
	clients := flags.Int("n", 1, "clients to serve before exiting (0: forever)")
	python := flags.String("python", "", "start this Python on a client script")
	if err := flags.Parse(args); err != nil {
		return err
	}
	var key []byte
	if *authkey != "" {
		key = []byte(*authkey)
	}
	l, err := gompx.Listen(*network, *addr, gompx.ListenOptions{Authkey: key})
	if err != nil {
		return err
	}
	defer l.Close()
	literal := pythonLiteral(l.Network(), l.Addr())
	fmt.Fprintln(stdout, literal)
	if *python != "" {
		cmd := exec.Command(*python, "-c", clientScript, literal, *authkey)
		cmd.Stdout, cmd.Stderr = stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		defer cmd.Wait()
	}
	for served := 0; *clients == 0 || served < *clients; {
		c, err := l.Accept()
		if errors.Is(err, gompx.ErrAuthentication) {
			fmt.Fprintln(os.Stderr, "refused a client:", err)
			continue
		}
		if err != nil {
			return err
		}
		err = serve(c)
		c.Close()
		if err != nil {
			return err
		}
		served++
	}
	return nil
}

// serve answers one client's jobs until it sends None or hangs up.
func serve(c *gompx.Conn) error {
	for {
		v, err := c.Recv()
		if errors.Is(err, io.EOF) || (err == nil && v == nil) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.Send(do(v)); err != nil {
			return err
		}
	}
}

func do(v any) any {
	job, ok := v.(pickle.Tuple)
	if !ok || len(job) == 0 {
		return pickle.Tuple{"error", fmt.Sprintf("a job is a tuple (name, args...), not %T", v)}
	}
	switch arg := job[len(job)-1]; job[0] {
	case "sum":
		if items, ok := arg.([]any); ok {
			return sum(items)
		}
	case "upper":
		if s, ok := arg.(string); ok {
			return strings.ToUpper(s)
		}
	case "len":
		if b, ok := arg.([]byte); ok {
			return len(b)
		}
	}
	return pickle.Tuple{"error", fmt.Sprintf("unknown job %v", job)}
}

func sum(items []any) any {
	var total float64
	allInts := true
	for _, it := range items {
		switch n := it.(type) {
		case int64:
			total += float64(n)
		case float64:
			total, allInts = total+n, false
		default:
			return pickle.Tuple{"error", fmt.Sprintf("cannot add %T", it)}
		}
	}
	if allInts {
		return int64(total)
	}
	return total
}

// pythonLiteral writes a gompx address as the Python value Client takes.
func pythonLiteral(network, addr string) string {
	if network == "tcp" {
		i := strings.LastIndex(addr, ":")
		return fmt.Sprintf("(%s, %s)", strconv.Quote(addr[:i]), addr[i+1:])
	}
	if strings.HasPrefix(addr, "@") {
		return strconv.Quote("\x00" + addr[1:]) // Python reads \x00 as Go writes it
	}
	return strconv.Quote(addr)
}
