package goserve

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/gompx/gompx/gompx/internal/workproto"
	"github.com/gompx/gompx/pickle"
)

// BenchmarkAnswerMap is the worker's share of a map chunk: 2,500 calls of a
// hex SHA-256 of 64 bytes, decoded, run and encoded (per item).
func BenchmarkAnswerMap(b *testing.B) {
	fn := func(args []any) (any, error) {
		sum := sha256.Sum256(args[0].([]byte))
		return hex.EncodeToString(sum[:]), nil
	}
	registry.Lock()
	if registry.funcs == nil {
		registry.funcs = make(map[string]Func)
	}
	registry.funcs["bench-sha256"] = fn
	registry.Unlock()
	calls := make([]any, 2500)
	for i := range calls {
		item := make([]byte, 64)
		rand.Read(item)
		calls[i] = pickle.Tuple{item}
	}
	args, _ := pickle.Marshal(calls)
	frame, _ := workproto.AppendRequest(nil, workproto.OpMap, "bench-sha256", args, nil)
	req, _ := workproto.ParseRequest(frame)
	var out bytes.Buffer
	for b.Loop() {
		out.Reset()
		answer(&out, req)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(calls)), "ns/item")
}
