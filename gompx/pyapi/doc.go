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
//   - ConnectPool, OpenClusterQueue, StartLocal: the JSON in which Python describes a
//     cluster connection, and the results and items a cluster pool or queue holds
//     between the call that reports their size and the one that copies them out (Take
//     and Fill, Get and Fill; Frame and Unframe for a queue's items).
//   - GoTask, StartGoPool: a goserve call's outcome as the status and pickle Python loads,
//     a pool started in the background for Python to wait on in slices.
//   - NewSync, OpenSync, Acquire, Release: the synchronization kinds by number, a bounded
//     semaphore made with fewer units than its bound, a lock taken over from a dead owner.
//   - ExportConn, ImportConn, CoreAddress, PyAddress, AuthSteps: a connection's state for
//     a child, addresses as Python spells them, the order of a handshake's halves.
//   - WatchParent (once per process), BuildInfo, QueueLayout, DescribeHeap.
//
// What Python passed wrong is an error wrapping ErrBadInput, which the facade raises as
// ValueError.
//   - CFailpoints: the failpoints GOMPX_FAILPOINTS arms in the C fast paths.
//
// What it does not do: know about Python objects or handles (the facade does), or
// re-export what package gompx already offers.
package pyapi
