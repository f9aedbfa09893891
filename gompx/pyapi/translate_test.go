package pyapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/cluster/natsnode"
	"github.com/gompx/gompx/gompx/goserve"
	"github.com/gompx/gompx/pickle"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, items := range [][][]byte{nil, {{}}, {[]byte("a"), {}, []byte("hello")}} {
		got, err := Unframe(Frame(items))
		if err != nil || len(got) != len(items) {
			t.Fatalf("Unframe(Frame(%q)) = %q, %v", items, got, err)
		}
		for i := range items {
			if string(got[i]) != string(items[i]) {
				t.Errorf("item %d = %q, want %q", i, got[i], items[i])
			}
		}
	}
	for _, bad := range [][]byte{{0, 0}, {0, 0, 0, 5, 'x'}} {
		if _, err := Unframe(bad); !errors.Is(err, ErrBadInput) {
			t.Errorf("Unframe(%v) error = %v, want ErrBadInput", bad, err)
		}
	}
}

func TestBadInputs(t *testing.T) {
	tests := []struct {
		name string
		err  error
		text string
	}{
		{"spec JSON", second(ParseClusterSpec("{")), "gompx: bad cluster spec: "},
		{"spec key", second(ConnectPool(`{"url": "nats://127.0.0.1:1", "authkey": "zz"}`)), "gompx: authkey is not hex: "},
		{"local spec", second(StartLocal("[")), "gompx: bad local cluster spec: "},
		{"ints", second(ParseInts("1,x")), "gompx: bad integer list "},
		{"family", second(Network("AF_BLUE")), "gompx: Family AF_BLUE is not recognized."},
		{"address", third(CoreAddress("AF_UNIX", "zz")), "gompx: bad address encoding: "},
		{"steps", second(AuthSteps("DX")), "gompx: bad handshake steps "},
		{"conn state", second(ImportConn("no semicolon")), "gompx: bad connection state "},
		{"sync kind", second(NewSync(9, 0, 0)), "gompx: unknown synchronization kind 9"},
		{"open kind", second(OpenSync(9, gompx.SharedRef{})), "gompx: unknown synchronization kind 9"},
		{"bound", second(NewSync(SyncKindSemaphore, 3, 2)), "gompx: semaphore value 3 above its bound 2"},
		{"go pool spec", second(StartGoPool([]byte("x\x00"))), "gompx: bad pool spec: "},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrBadInput) || len(tt.err.Error()) < len(tt.text) || tt.err.Error()[:len(tt.text)] != tt.text {
			t.Errorf("%s: error %v, want ErrBadInput starting %q", tt.name, tt.err, tt.text)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

func TestIntsAndAddresses(t *testing.T) {
	if got, err := ParseInts(" 3, 4,5"); err != nil || !reflect.DeepEqual(got, []int{3, 4, 5}) {
		t.Errorf("ParseInts = %v, %v", got, err)
	}
	if got := JoinInts([]int{3, -4, 5}); got != "3,-4,5" {
		t.Errorf("JoinInts = %q", got)
	}
	tests := []struct{ family, addr, network, core, back string }{
		{"AF_UNIX", "/tmp/s", "unix", "/tmp/s", "/tmp/s"},
		{"AF_UNIX", "@file", "unix", "./@file", "./@file"},
		{"AF_INET", "127.0.0.1:5", "tcp", "127.0.0.1:5", "127.0.0.1:5"},
	}
	for _, tt := range tests {
		network, core, err := CoreAddress(tt.family, hex.EncodeToString([]byte(tt.addr)))
		if err != nil || network != tt.network || core != tt.core {
			t.Errorf("CoreAddress(%s, %q) = %s %q %v", tt.family, tt.addr, network, core, err)
		}
		if back, _ := hex.DecodeString(PyAddress(network, core)); string(back) != tt.back {
			t.Errorf("PyAddress(%s, %q) = %q", network, core, back)
		}
	}
	if back, _ := hex.DecodeString(PyAddress("unix", "@abstract")); string(back) != "\x00abstract" {
		t.Errorf("abstract name back to Python: %q", back)
	}
}

func TestOutcome(t *testing.T) {
	load := func(b []byte) any {
		v, err := pickle.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	status, body := Outcome([]byte("as is"), nil)
	if status != GoTaskResult || string(body) != "as is" {
		t.Errorf("result: %d %q", status, body)
	}
	tests := []struct {
		err    error
		status int
		want   string
	}{
		{&goserve.Error{Function: "f", Kind: "panic", Message: "m", Stack: "s", Index: 2}, GoTaskError, "[f panic m s 2]"},
		{fmt.Errorf("gompx: call: %w", &goserve.ExitError{Kind: "go worker", Pid: 7, Code: -9}), GoTaskExited, "-9]"},
		{errors.New("gompx: pool closed"), GoTaskClosed, "[pool closed]"},
	}
	for _, tt := range tests {
		status, body := Outcome(nil, tt.err)
		got := fmt.Sprint(load(body))
		if status != tt.status || got[len(got)-len(tt.want):] != tt.want {
			t.Errorf("Outcome(%v) = %d %s, want %d ...%s", tt.err, status, got, tt.status, tt.want)
		}
	}
}

func TestWaitDone(t *testing.T) {
	open, closed := make(chan struct{}), make(chan struct{})
	close(closed)
	if WaitDone(open, 0) || WaitDone(open, time.Millisecond) || !WaitDone(closed, 0) || !WaitDone(closed, -1) {
		t.Error("WaitDone")
	}
}

func TestSyncAcquireRelease(t *testing.T) {
	s, err := NewSync(SyncKindSemaphore, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := Acquire(s, 0); err != nil || !got.OK || got.TookOver {
		t.Fatalf("first acquire = %+v, %v", got, err)
	}
	if got, err := Acquire(s, time.Millisecond); err != nil || got.OK {
		t.Fatalf("acquire of an empty semaphore = %+v, %v", got, err)
	}
	for i, want := range []bool{true, true, false} { // bound 2: the third release is one too many
		if err := Release(s); (err == nil) != want {
			t.Errorf("release %d: %v", i, err)
		}
	}
	e, err := NewSync(SyncKindEvent, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := Acquire(e, 0); !errors.Is(err, ErrBadInput) {
		t.Errorf("acquire of an event: %v", err)
	}
}

// TestClusterQueueTakeAndFill puts and gets through a real server as the facade does:
// a put that does not wait stops at the bound, a get holds its items until Fill.
func TestClusterQueueTakeAndFill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := natsnode.Start(ctx, natsnode.Options{Host: "127.0.0.1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Shutdown()
	cq, err := OpenClusterQueue(fmt.Sprintf(`{"url": %q, "authkey": "6b6579", "name": "q1", "maxsize": 2}`, node.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	defer cq.Close()
	added, err := cq.Put(Frame([][]byte{[]byte("a"), []byte("b"), []byte("c")}), 0)
	if err != nil || added != 2 {
		t.Fatalf("Put past the bound = %d, %v; want 2", added, err)
	}
	size, err := cq.Get(1, 5, time.Second)
	if err != nil || size != 2*5 {
		t.Fatalf("Get = %d, %v", size, err)
	}
	if err := cq.Fill(2, make([]byte, size)); !errors.Is(err, ErrBadInput) {
		t.Errorf("Fill for another key: %v", err)
	}
	buf := make([]byte, size)
	if err := cq.Fill(1, buf); err != nil {
		t.Fatal(err)
	}
	if items, _ := Unframe(buf); len(items) != 2 || string(items[0]) != "a" || string(items[1]) != "b" {
		t.Errorf("items %q", items)
	}
	if size, err := cq.Get(1, 5, 0); err != nil || size != -1 {
		t.Errorf("Get of an empty queue = %d, %v", size, err)
	}
}
