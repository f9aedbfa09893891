// Package gompxcore is the narrow facade that gopy turns into the Python extension module
// gompx._gompxnative. It is the only Go code that runs inside a Python process, not the only
// Go code that knows Python exists: gompx/pyworker and cmd/gompx start CPython worker
// processes for Go programs, and the core mirrors multiprocessing's semantics (see
// docs/design.md, "Layers").
//
// Python readers: these functions are called by gompx's pure-Python layer
// (gompx/_native.py), not by user code. They take and return only ints, bools and short
// strings. Go objects stay in Go and are named by integer handles from a locked table;
// payload bytes never cross as Python bytes: the caller passes the address and length of
// memory it owns, and Go reads or writes it before returning.
//
// The rules every exported function follows:
//
//   - It recovers panics and returns them as errors: a Go panic must not abort the
//     interpreter.
//   - It returns (T, error), never a bare error (gopy v0.5.0 leaks the message of a bare
//     error on every call).
//   - Errors travel as RuntimeError("gompx:<PythonException>:<errno>:<message>");
//     gompx/_native.py turns them into the exception named there (EOFError, OSError with
//     its errno, ValueError, ...). The message drops the "gompx: " every core error
//     starts with (pyText), so Python sees CPython's wording.
//   - Blocking calls take a timeout in milliseconds (negative: forever), call the core's
//     duration-taking methods (LockTimeout, Acquire, AcceptTimeout, ...; Go programs use
//     the context ones) and report expiry as a value, not an error, because the Python layer waits in short slices on the main
//     thread so that Ctrl-C is handled promptly.
//
// What it does not do: pickle Python objects (Python's C pickler does that in the caller),
// own any policy (the Python layer decides when to spawn, the core how).
package gompxcore
