package pickle_test

import (
	"fmt"

	"github.com/gompx/gompx/pickle"
)

// A result tuple as multiprocessing.Pool sends it when the task raised:
// the exception decodes to an inert *pickle.Object.
func Example() {
	data, err := pickle.Marshal(pickle.Tuple{
		int64(0), int64(1),
		pickle.Tuple{false, &pickle.Object{
			Class: pickle.Class{Module: "builtins", Name: "ValueError"},
			Args:  pickle.Tuple{"boom"},
		}},
	})
	if err != nil {
		panic(err)
	}
	v, err := pickle.Unmarshal(data)
	if err != nil {
		panic(err)
	}
	result := v.(pickle.Tuple)[2].(pickle.Tuple)
	exc := result[1].(*pickle.Object)
	fmt.Printf("ok=%v %s(%q)\n", result[0], exc.Class, exc.Args[0])
	// Output: ok=false builtins.ValueError("boom")
}
