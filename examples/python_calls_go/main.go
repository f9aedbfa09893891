// Command python_calls_go is a Go worker program for Python: it serves
// "sha256" and "wordcount" to gompx.goworkers.GoPool (see map_words.py here).
//
//	go build -o /tmp/wordworker ./examples/python_calls_go
//	python examples/python_calls_go/map_words.py /tmp/wordworker
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/gompx/gompx/gompx/goserve"
)

func main() {
	goserve.Register("sha256", sha256Hex)
	goserve.Register("wordcount", wordCount)
	if !goserve.IsWorker() {
		fmt.Fprintln(os.Stderr, "python_calls_go is a gompx worker: start it from Python with gompx.goworkers.GoPool")
		os.Exit(2)
	}
	if err := goserve.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// sha256Hex returns the hex SHA-256 of one bytes or str argument.
func sha256Hex(args []any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("sha256 takes 1 argument, got %d", len(args))
	}
	var sum [32]byte
	switch v := args[0].(type) {
	case []byte:
		sum = sha256.Sum256(v)
	case string:
		sum = sha256.Sum256([]byte(v))
	default:
		return nil, fmt.Errorf("sha256 wants bytes or str, got %T", v)
	}
	return hex.EncodeToString(sum[:]), nil
}

// wordCount returns {word: count} for one str, words lower-cased.
func wordCount(args []any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("wordcount takes 1 argument, got %d", len(args))
	}
	text, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("wordcount wants str, got %T", args[0])
	}
	counts := make(map[string]int)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		counts[strings.Trim(w, ".,;:!?\"'()")]++
	}
	delete(counts, "")
	return counts, nil
}
