// Package pyapi holds the rules of gompx's Python layer that are not part of the Go API:
// what the Python facade (pyext/gompxcore) needs from the core beyond what a Go program
// uses. It is for the facade only; Go programs use package gompx. Its rules live here,
// with Go tests, so that the facade only converts types and handles.
//
//   - ExitFlush: at interpreter exit, which queues' pending messages are waited for, for
//     how long, and when they are given up (join_thread, cancel_join_thread).
//   - ForkServerExitCode: the fork server's report of a child's exit code (8 bytes,
//     big-endian, on the child's status socket), read without consuming it.
//   - ParseProcessSpec, ParseGoPoolSpec: the field lists in which the Python layer
//     describes a child to start and a pool of Go workers.
//   - ReceiveMany: a queue get for Python: the messages already there taken while they
//     fit, joined into one pickle when they are all pickles, a first message too long
//     for the buffer held for the caller; Reader for the in-place reading that needs.
//   - The lock-word offsets the C fast path of the locks shares with package psync.
//   - CFailpoints: the failpoints GOMPX_FAILPOINTS arms in the C fast paths.
//
// What it does not do: know about Python objects or handles (the facade does), or
// re-export what package gompx already offers.
package pyapi
