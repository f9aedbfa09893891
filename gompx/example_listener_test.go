//go:build linux

package gompx_test

import (
	"errors"
	"fmt"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/pickle"
)

// A Listener and a Dial with a shared authkey, exchanging pickled values. Either side
// could be a stock CPython process: multiprocessing.connection.Client(address,
// authkey=b"secret") reaches this Listener, and Dial reaches a CPython Listener.
func ExampleListen() {
	l, err := gompx.Listen("unix", "", gompx.ListenOptions{Authkey: []byte("secret")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close() // also removes the socket file

	go func() { // the worker: takes ("add", a, b), answers a + b
		c, err := gompx.Dial("unix", l.Addr(), []byte("secret"))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		v, _ := c.Recv()
		job := v.(pickle.Tuple)
		c.Send(job[1].(int64) + job[2].(int64))
	}()

	c, err := l.Accept() // authenticated both ways before it returns
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Send(pickle.Tuple{"add", 2, 40})
	sum, err := c.Recv()
	fmt.Println(sum, err)

	refused := make(chan error)
	go func() { // a client with the wrong key fails, and so does the Accept
		_, err := gompx.Dial("unix", l.Addr(), []byte("wrong key"))
		refused <- err
	}()
	_, err = l.Accept()
	fmt.Println("listener:", errors.Is(err, gompx.ErrAuthentication))
	fmt.Println("client:", errors.Is(<-refused, gompx.ErrAuthentication))
	// Output:
	// 42 <nil>
	// listener: true
	// client: true
}
