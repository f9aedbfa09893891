// Package workproto is the message layout between a gompx worker pool and its
// worker processes: Python workers driven by a Go program (gompx/pyworker) and
// Go workers driven by Python or Go (gompx/goserve). Both directions are
// frames of CPython's multiprocessing.connection wire over one socket, so a
// Python worker needs nothing but the standard library to speak it.
//
// The worker speaks first (hello), then answers one request at a time:
//
//	frame    offset  size  field
//	hello    0       7     "GOMPXW1": protocol name and version
//	         7       rest  pickle of a dict: "pid" (int), "impl" (str), "functions" (list of str, Go workers)
//	request  0       1     op: 'C' call, 'M' map
//	         1       2     N, big-endian: length of the name
//	         3       4     A, big-endian: length of the arguments
//	         7       N     name, UTF-8: "module:qualname" (Python workers) or a registered name (Go workers)
//	         7+N     A     arguments: pickle of a tuple ('C'), or of a list of tuples ('M': one call each)
//	         7+N+A   rest  keyword arguments: pickle of a dict, or nothing for none
//	reply    0       1     status: 'R' result, 'E' error
//	         1       rest  'R': pickle of the result ('C') or of the list of results ('M');
//	                       'E': pickle of (module, name, message, traceback, index), index -1 for 'C'
//
// The parent ends a worker by shutting down its side for writing: the worker
// reads end of stream between requests and exits with status 0.
//
// What it does not do: open sockets, pickle values, or start processes.
package workproto
