// Package errs holds what every layer of the gompx core shares about errors: the one
// timeout sentinel and the "gompx: " prefix.
//
// One sentinel, so that errors.Is(err, gompx.ErrTimeout) holds for every wait that ran
// out of time, whichever layer (a futex word in psync, a queue ring in mpq, a pool, a
// connection's poll, a cluster's context) noticed first:
//
//	errors.Is(err, ...)          holds for ErrTimeout   why
//	ErrTimeout                   yes                    the sentinel (gompx.ErrTimeout re-exports it)
//	os.ErrDeadlineExceeded       yes                    what os and net return for a passed deadline
//	context.DeadlineExceeded     yes                    a Context method whose ctx ran out of time
//
// and Timeout() reports true, as net.Error's does.
//
// One prefix: every message a Go user of the core can see starts with "gompx: "
// exactly once, however many layers added their context. New and Errorf write it; an
// error they wrap loses its own leading prefix in the message (never in errors.Is or
// errors.As, which see the error unchanged):
//
//	errs.Errorf("queue get: %w", errs.ErrTimeout).Error() == "gompx: queue get: timed out"
//
// What it does not do: no error kinds for Python (the facade maps sentinels to
// exceptions), no stack traces.
package errs
