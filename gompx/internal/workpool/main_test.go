package workpool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/workproto"
)

// The test binary is its own worker: with WORKPOOL_TEST_WORKER set to a
// scenario it speaks the worker side of the frames on fd 3 instead of
// running tests.
//
//	echo   replies 'R' + the request, then waits for the next
//	die          exits with status 3 on its first request
//	die-at-once  exits with status 1 before its hello
//	mute         never says hello
func TestMain(m *testing.M) {
	if scenario := os.Getenv("WORKPOOL_TEST_WORKER"); scenario != "" {
		os.Exit(testWorker(scenario))
	}
	os.Exit(m.Run())
}

func testWorker(scenario string) int {
	conn, err := gompx.NewConn(WorkerFd, true, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	switch scenario {
	case "mute":
		time.Sleep(time.Hour)
	case "die-at-once":
		return 1
	}
	hello, _ := workproto.AppendHello(nil, workproto.Hello{Pid: os.Getpid(), Impl: "test"})
	if err := conn.SendBytes(hello); err != nil {
		return 2
	}
	for {
		req, err := conn.RecvBytes(0)
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil || scenario == "die" {
			return 3
		}
		reply := req
		if scenario == "pid" {
			reply = []byte(strconv.Itoa(os.Getpid()))
		}
		if err := conn.SendBytes(append([]byte{workproto.StatusResult}, reply...)); err != nil {
			return 2
		}
	}
}

// command starts this test binary as a worker of the given scenario.
func command(scenario string) func() (gompx.Cmd, error) {
	return func() (gompx.Cmd, error) {
		return gompx.Cmd{Path: os.Args[0], Env: append(os.Environ(), "WORKPOOL_TEST_WORKER="+scenario)}, nil
	}
}

// commandThenFail starts one worker of scenario, then refuses.
func commandThenFail(scenario string) func() (gompx.Cmd, error) {
	var started atomic.Bool
	return func() (gompx.Cmd, error) {
		if started.Swap(true) {
			return gompx.Cmd{}, errors.New("no more workers today")
		}
		return command(scenario)()
	}
}
