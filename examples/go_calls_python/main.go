// Command go_calls_python runs Python functions from Go in a pool of CPython
// workers (package gompx/pyworker): a standard-library function, functions of
// textstats.py in this directory, a map, and an exception with its traceback.
//
//	go run ./examples/go_calls_python [-python /path/to/python3] [-dir examples/go_calls_python]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/gompx/gompx/gompx/pyworker"
)

func main() {
	python := flag.String("python", os.Getenv("GOMPX_PYTHON"), "the CPython interpreter (default: $GOMPX_PYTHON, else python3 on $PATH)")
	dir := flag.String("dir", sourceDir(), "the directory holding textstats.py")
	flag.Parse()
	if *python == "" {
		p, err := exec.LookPath("python3")
		if err != nil {
			fmt.Fprintln(os.Stderr, "no python3 on $PATH: pass -python")
			os.Exit(2)
		}
		*python = p
	}
	if err := run(*python, *dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(python, dir string) error {
	pool, err := pyworker.NewPool(pyworker.Options{Python: python, Workers: 2, Dir: dir})
	if err != nil {
		return err
	}
	defer pool.Close()
	ctx := context.Background()

	mean, err := pool.Call(ctx, "statistics:mean", []int{3, 1, 4, 1, 5, 9, 2, 6})
	if err != nil {
		return err
	}
	fmt.Println("statistics.mean:", mean)

	text := "the cat and the hat and the bat"
	top, err := pool.CallKw(ctx, "textstats:top_words", []any{text}, map[string]any{"n": 2})
	if err != nil {
		return err
	}
	fmt.Println("top_words:", top)

	loud, err := pool.Map(ctx, "textstats:shout", []any{"go", "calls", "python"}, 0)
	if err != nil {
		return err
	}
	fmt.Println("shout:", loud)

	_, err = pool.Call(ctx, "textstats:ratio", 1, 0)
	var pe *pyworker.PythonError
	if !errors.As(err, &pe) {
		return fmt.Errorf("ratio(1, 0) should raise, got %v", err)
	}
	fmt.Printf("exception: %s.%s: %s\n", pe.Module, pe.Name, pe.Message)
	fmt.Print(pe.Traceback)
	return nil
}

// sourceDir is this file's directory, where textstats.py lives.
func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Dir(file)
}
