package gompx

import (
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/pickle"
)

// Send pickles v (protocol 5, which every CPython from 3.8 on reads) and sends it as
// one message, as Connection.send does; see the pickle package for the type map.
func (c *Conn) Send(v any) error {
	data, err := pickle.Marshal(v)
	if err != nil {
		return errs.Errorf("send: %w", err)
	}
	return c.SendBytes(data)
}

// Recv receives one message and unpickles it, as Connection.recv does. Unpickling runs
// no code: instances of classes the pickle package does not build are inert
// *pickle.Object values, so a hostile peer can send data, not actions.
func (c *Conn) Recv() (any, error) {
	data, err := c.RecvBytes(0)
	if err != nil {
		return nil, err
	}
	v, err := pickle.Unmarshal(data)
	if err != nil {
		return nil, errs.Errorf("recv: %w", err)
	}
	return v, nil
}
