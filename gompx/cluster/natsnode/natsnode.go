package natsnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure a node; see the package table.
type Options struct {
	Host        string
	Port        int
	StoreDir    string
	Name        string
	ClusterName string
	ClusterHost string
	ClusterPort int
	Routes      []string
	User        string
	Password    string
	Token       string
	// Logf, if set, receives the server's notices and errors.
	Logf func(format string, args ...any)
}

// Node is a running server.
type Node struct {
	s *server.Server
}

// Start starts a node and returns once it accepts clients (and, clustered, once
// JetStream is up), or when ctx is done.
func Start(ctx context.Context, o Options) (*Node, error) {
	if o.StoreDir == "" {
		return nil, errors.New("gompx: natsnode: StoreDir is required")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	so := &server.Options{
		Host: o.Host, Port: port, JetStream: true, StoreDir: o.StoreDir, ServerName: o.Name,
		NoSigs: true, NoLog: o.Logf == nil, Username: o.User, Password: o.Password,
		Authorization: o.Token, MaxPayload: 1 << 20,
	}
	if o.ClusterName != "" {
		host := o.ClusterHost
		if host == "" {
			host = o.Host
		}
		cport := o.ClusterPort
		if cport == 0 {
			cport = server.RANDOM_PORT
		}
		so.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: host, Port: cport}
		if len(o.Routes) > 0 {
			so.Routes = server.RoutesFromStr(strings.Join(o.Routes, ","))
		}
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("gompx: nats server: %w", err)
	}
	if o.Logf != nil {
		s.SetLogger(logger{o.Logf}, false, false)
	}
	s.Start()
	deadline := time.Now().Add(30 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	for !s.ReadyForConnections(100 * time.Millisecond) {
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.Shutdown()
			return nil, fmt.Errorf("gompx: nats server on %s did not start in time", o.Host)
		}
	}
	return &Node{s: s}, nil
}

// ClientURL is the URL clients connect to ("nats://127.0.0.1:PORT").
func (n *Node) ClientURL() string { return n.s.ClientURL() }

// RouteURL is the URL other nodes route to ("nats-route://HOST:PORT"), or "" when the
// node is not clustered.
func (n *Node) RouteURL() string {
	a := n.s.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + net.JoinHostPort(a.IP.String(), fmt.Sprint(a.Port))
}

// JetStreamReady reports whether JetStream can serve requests (clustered: a meta
// leader is known).
func (n *Node) JetStreamReady() bool {
	return n.s.JetStreamEnabled() && (n.s.JetStreamIsCurrent() || !n.s.JetStreamIsClustered())
}

// Shutdown stops the node and waits for it. It is idempotent.
func (n *Node) Shutdown() {
	n.s.Shutdown()
	n.s.WaitForShutdown()
}

type logger struct{ f func(string, ...any) }

func (l logger) Noticef(format string, v ...any) { l.f(format, v...) }
func (l logger) Warnf(format string, v ...any)   { l.f(format, v...) }
func (l logger) Fatalf(format string, v ...any)  { l.f(format, v...) }
func (l logger) Errorf(format string, v ...any)  { l.f(format, v...) }
func (l logger) Debugf(format string, v ...any)  {}
func (l logger) Tracef(format string, v ...any)  {}
