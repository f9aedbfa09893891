// Package cluster runs pool tasks on worker machines through a NATS JetStream
// cluster: the Go side of gompx.Pool(cluster="nats://..."). A Caller publishes chunks
// (pickled by Python) and collects their results; Serve, in `gompx worker`, pulls
// chunks and runs them with a Handler (a local pool of CPython processes). The full
// contract is docs/design.md, "Past one machine"; its defining table:
//
//	object          kind                              subjects / filter    retention / limits
//	GOMPX_TASKS     stream                            gompx.task.<pool>    work queue, MaxAge 24 h, dedup 2 min
//	workers         durable pull consumer, GOMPX_TASKS all                 explicit ack, AckWait (30 s), MaxDeliver 4
//	GOMPX_RESULTS   stream                            gompx.result.<pool>  work queue, MaxAge 1 h
//	r-<pool>        pull consumer, GOMPX_RESULTS      gompx.result.<pool>  explicit ack, InactiveThreshold (30 s)
//	GOMPX_OBJ       object store                      bodies > 512 KiB     TTL 24 h
//
// Every message carries an HMAC-SHA256 keyed with the pool's authkey (header
// Gompx-Mac), checked before its body is handed on: a worker runs only verified
// tasks, a caller keeps only verified results, the first one per chunk (execution is
// at least once, results count once). A chunk run MaxDeliveries times without an
// ack fails with StatusLost (answered by the worker that gets its 4th delivery); a
// worker process that dies running a chunk fails it with StatusLost at once (the
// Handler says so).
//
// What it does not do: decode pickles (Python does), start processes (cmd/gompx
// does), or run the server (package natsnode does).
package cluster
