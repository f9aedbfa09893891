package pyworker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/gompx/gompx/gompx/pyworker"
)

// Call Python functions from Go: results come back as Go values, exceptions
// as *PythonError.
func Example() {
	python := os.Getenv("GOMPX_PYTHON")
	if python == "" {
		python, _ = exec.LookPath("python3")
	}
	pool, err := pyworker.NewPool(pyworker.Options{Python: python, Workers: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	ctx := context.Background()

	mean, err := pool.Call(ctx, "statistics:mean", []int{1, 2, 3, 4})
	fmt.Println(mean, err)

	words, err := pool.CallKw(ctx, "textwrap:wrap", []any{"the quick brown fox"}, map[string]any{"width": 10})
	fmt.Println(words, err)

	_, err = pool.Call(ctx, "math:sqrt", -1)
	var pe *pyworker.PythonError
	if errors.As(err, &pe) {
		fmt.Println(pe.Name+":", pe.Message)
	}
	// Output:
	// 2.5 <nil>
	// [the quick brown fox] <nil>
	// ValueError: math domain error
}
