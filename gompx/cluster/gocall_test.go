package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var goFuncs = map[string]Func{
	"gofuncs:square": func(args []any) (any, error) {
		x := args[0].(int64)
		return x * x, nil
	},
	"gofuncs:fail": func(args []any) (any, error) { return nil, errors.New("no good") },
	"gofuncs:panic": func(args []any) (any, error) {
		return args[5], nil // index out of range
	},
}

// TestGoCallerGoWorker: Caller.Map from Go to Go functions served with GoHandler, in
// the chunk format Python's pools and workers use.
func TestGoCallerGoWorker(t *testing.T) {
	url := startNode(t)
	serve(t, connect(t, url, testKey, nil), "go", 2, GoHandler(goFuncs))
	k, err := NewCaller(context.Background(), connect(t, url, testKey, nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	items := make([]any, 25)
	for i := range items {
		items[i] = int64(i)
	}
	for _, chunk := range []int{0, 1, 4, 100} {
		got, err := k.Map(ctx, "gofuncs:square", items, chunk)
		if err != nil || len(got) != len(items) {
			t.Fatalf("chunk %d: %d results, %v", chunk, len(got), err)
		}
		for i, v := range got {
			if v != int64(i*i) {
				t.Fatalf("chunk %d: result %d = %v", chunk, i, v)
			}
		}
	}
	if got, err := k.Map(ctx, "gofuncs:square", nil, 1); err != nil || len(got) != 0 {
		t.Fatalf("empty Map = %v, %v", got, err)
	}
	for _, tc := range []struct{ fn, want string }{
		{"gofuncs:fail", "RuntimeError(\"Go function gofuncs:fail: no good\")"},
		{"gofuncs:panic", "index out of range"},
		{"gofuncs:missing", "LookupError(\"no Go function gofuncs:missing is served here\")"},
	} {
		_, err := k.Map(ctx, tc.fn, []any{int64(1)}, 1)
		var te *TaskError
		if !errors.As(err, &te) || !strings.Contains(te.Exception, tc.want) {
			t.Errorf("%s: %v, want a TaskError with %q", tc.fn, err, tc.want)
		}
	}
	if _, err := k.Map(ctx, "no colon", items, 1); err == nil {
		t.Error("Map of a bad function name succeeded")
	}
}
