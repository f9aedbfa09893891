package workpool

import (
	"context"
	"fmt"
)

// A pool of two workers (this test binary in its "echo" scenario), a request
// and its reply frame.
func ExampleStart() {
	p, err := Start(Options{Kind: "echo worker", Workers: 2, Command: command("echo")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	reply, err := p.Do(context.Background(), []byte("ping"))
	fmt.Printf("%s %v\n", reply, err)
	// Output: Rping <nil>
}
