// Package frame encodes and decodes the message headers of CPython's
// multiprocessing.connection.Connection, plus the one gompx extension.
//
// A header is a 4-byte big-endian signed prefix, sometimes followed by an 8-byte
// big-endian length:
//
//	prefix        then          meaning
//	0..0x7fffffff –             payload of that many bytes follows inline (CPython)
//	-1            uint64 length payload of that length follows inline (CPython, for
//	                            payloads above 0x7fffffff bytes)
//	-2            uint64 length payload travels through the sender's shared-memory ring
//	                            (gompx peer mode only; a stdlib peer never sees it)
//	other < 0     –             invalid: ErrBadLength
//
// An 8-byte length above math.MaxInt64 is invalid too. The package reads and writes
// nothing but headers: it never buffers, never reads past a header, and knows nothing
// of sockets or rings.
package frame
