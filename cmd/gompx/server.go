package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gompx/gompx/gompx/cluster/natsnode"
)

// runServer runs one node until ctx is done.
func runServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gompx server", flag.ContinueOnError)
	var o natsnode.Options
	var routes string
	verbose := fs.Bool("verbose", false, "log the server's notices to stderr")
	fs.StringVar(&o.Host, "host", "127.0.0.1", "client address (127.0.0.1: this machine only)")
	fs.IntVar(&o.Port, "port", 4222, "client port (0: a free one)")
	fs.StringVar(&o.StoreDir, "store", "", "JetStream store directory (default: a temporary one, removed at exit)")
	fs.StringVar(&o.Name, "name", "", "server name (distinct per node of a cluster)")
	fs.StringVar(&o.ClusterName, "cluster-name", "", "cluster name: join a cluster")
	fs.StringVar(&o.ClusterHost, "cluster-host", "", "route address (default: --host)")
	fs.IntVar(&o.ClusterPort, "cluster-port", 6222, "route port (0: a free one)")
	fs.StringVar(&routes, "routes", "", "comma-separated nats-route://host:port of the other nodes")
	fs.StringVar(&o.User, "user", "", "user clients must give")
	fs.StringVar(&o.Password, "password", os.Getenv("GOMPX_NATS_PASSWORD"), "password clients must give")
	fs.StringVar(&o.Token, "token", os.Getenv("GOMPX_NATS_TOKEN"), "token clients must give")
	tlsCert := fs.String("tls-cert", "", "server certificate (PEM): clients connect with TLS (tls://)")
	tlsKey := fs.String("tls-key", "", "the server certificate's key (PEM)")
	tlsCA := fs.String("tls-ca", "", "CA (PEM) that must sign every client's certificate (mutual TLS)")
	routeCert := fs.String("route-tls-cert", "", "this node's route certificate (PEM, for server and client use): routes use TLS")
	routeKey := fs.String("route-tls-key", "", "the route certificate's key (PEM)")
	routeCA := fs.String("route-tls-ca", "", "CA (PEM) that signed every node's route certificate")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("gompx server: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("gompx server: unexpected argument %q", fs.Arg(0))
	}
	if *tlsCert != "" || *tlsKey != "" || *tlsCA != "" {
		cfg, err := natsnode.TLSFromFiles(*tlsCert, *tlsKey, *tlsCA)
		if err != nil {
			return err
		}
		o.TLS = cfg
	}
	if *routeCert != "" || *routeKey != "" || *routeCA != "" {
		cfg, err := natsnode.RouteTLSFromFiles(*routeCert, *routeKey, *routeCA)
		if err != nil {
			return err
		}
		o.RouteTLS = cfg
	}
	if routes != "" {
		o.Routes = strings.Split(routes, ",")
	}
	if o.ClusterName == "" {
		o.ClusterPort = 0
	}
	if o.StoreDir == "" {
		dir, err := os.MkdirTemp("", "gompx-server-")
		if err != nil {
			return fmt.Errorf("gompx server: %w", err)
		}
		defer os.RemoveAll(dir)
		o.StoreDir = dir
	}
	if *verbose {
		o.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, "gompx server: "+format+"\n", a...) }
	}
	node, err := natsnode.Start(ctx, o)
	if err != nil {
		return err
	}
	defer node.Shutdown()
	fmt.Println(node.ClientURL())
	if r := node.RouteURL(); r != "" {
		fmt.Println("routes:", r)
	}
	os.Stdout.Sync()
	<-ctx.Done()
	return nil
}
