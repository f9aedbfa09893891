// Command gompx runs the machines of a gompx cluster (docs/design.md, "Past one
// machine"):
//
//	gompx server [--host 127.0.0.1] [--port 4222] [--store DIR] [--cluster-name N --cluster-port P --routes URL,...] [--tls-cert F --tls-key F [--tls-ca F]]
//	gompx worker nats://HOST:PORT[,...] --processes N [--python PATH] [--authkey-file F]
//	gompx info nats://HOST:PORT[,...] [--json]
//	gompx version
//
// `gompx server` runs a NATS server with JetStream (any stock nats-server >= 2.10
// with JetStream serves as well); it prints its client URL as the first line of its
// standard output. `gompx worker` pulls chunks of pool tasks and runs each in one of
// N local CPython worker processes, which import the task's function by module name.
// The worker's authkey (hex in GOMPX_AUTHKEY, or raw bytes in --authkey-file) must
// be the pools' authkey. `gompx info` lists the cluster's streams, the node leading
// each and the state of their other replicas.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is the gompx release this command belongs to.
const version = "0.1.0"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(ctx, os.Args[2:])
	case "worker":
		err = runWorker(ctx, os.Args[2:])
	case "info":
		err = runInfo(ctx, os.Args[2:], os.Stdout)
	case "version", "--version":
		fmt.Println("gompx", version)
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "gompx: unknown command %q\n", os.Args[1])
		usage()
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, strings.TrimLeft(`
usage:
  gompx server [--host 127.0.0.1] [--port 4222] [--store DIR] [--name NAME]
               [--cluster-name N --cluster-host H --cluster-port P --routes nats-route://h:p,...]
               [--user U --password P | --token T] [--tls-cert F --tls-key F [--tls-ca F]]
  gompx worker nats://HOST:PORT[,...] [--processes N] [--python PATH] [--authkey-file F]
               [--insecure] [--user U --password P | --token T | --nkey F | --creds F]
               [--tls-ca F --tls-cert F --tls-key F] [--ack-wait 30s] [--replicas 1]
  gompx info nats://HOST:PORT[,...] [--json] [--timeout 10s] [credentials and TLS as for worker]
  gompx version
`, "\n"))
	os.Exit(2)
}
