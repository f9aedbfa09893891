package natsnode

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
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
	// TLS, if set, makes clients connect with TLS under this config; with ClientCAs
	// and ClientAuth set, clients must show a certificate signed by them.
	// TLSFromFiles makes one from PEM files.
	TLS *tls.Config
	// RouteTLS, if set, makes the routes between clustered nodes TLS under this config,
	// both ways: each node shows its certificate to the others and checks theirs
	// (RouteTLSFromFiles makes one).
	RouteTLS *tls.Config
	// ClusterAdvertise is the route address ("host:port") this node tells the others to
	// reach it by, when it is not its route listener's (a proxy in between).
	ClusterAdvertise string
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
		return nil, errs.New("gompx: natsnode: StoreDir is required")
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
	if o.TLS != nil {
		so.TLSConfig, so.TLS, so.TLSTimeout = o.TLS, true, 2
		so.TLSVerify = o.TLS.ClientAuth == tls.RequireAndVerifyClientCert
	}
	if o.ClusterName != "" {
		if len(o.Routes) == 0 {
			return nil, errs.New("gompx: natsnode: a clustered node needs the routes of the " +
				"cluster's nodes (its own may be among them)")
		}
		host := o.ClusterHost
		if host == "" {
			host = o.Host
		}
		cport := o.ClusterPort
		if cport == 0 {
			cport = server.RANDOM_PORT
		}
		so.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: host, Port: cport, Advertise: o.ClusterAdvertise}
		so.Routes = server.RoutesFromStr(strings.Join(o.Routes, ","))
		if o.RouteTLS != nil {
			so.Cluster.TLSConfig, so.Cluster.TLSTimeout = o.RouteTLS, 2
		}
	} else if o.RouteTLS != nil {
		return nil, errs.New("gompx: natsnode: RouteTLS is for a clustered node (set ClusterName)")
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, errs.Errorf("gompx: nats server: %w", err)
	}
	log := &logger{f: o.Logf}
	s.SetLogger(log, false, false)
	s.Start()
	deadline := time.Now().Add(30 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	for !s.ReadyForConnections(100*time.Millisecond) || !s.Running() {
		if !s.Running() || ctx.Err() != nil || time.Now().After(deadline) {
			s.Shutdown()
			return nil, errs.Errorf("gompx: nats server on %s did not start: %s", o.Host, log.lastError())
		}
	}
	if o.ClusterName == "" && !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, errs.Errorf("gompx: nats server on %s started without JetStream: %s", o.Host, log.lastError())
	}
	return &Node{s: s}, nil
}

// RouteTLSFromFiles makes the TLS config of a node's routes from its certificate and
// key and the CA (PEM files) that signed every node's: a route is both a server and
// a client, so the certificate must be good for both (or name no usage), and both
// sides check the other's against ca (what nats-server's cluster tls block does).
func RouteTLSFromFiles(cert, key, ca string) (*tls.Config, error) {
	if cert == "" || key == "" || ca == "" {
		return nil, errs.New("gompx: natsnode: route TLS needs the node's certificate, its key " +
			"and the CA that signed every node's")
	}
	cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key, CaFile: ca, Verify: true})
	if err != nil {
		return nil, errs.Errorf("gompx: natsnode: route TLS: %w", err)
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.RootCAs = cfg.ClientCAs
	return cfg, nil
}

// TLSFromFiles makes a server's TLS config from its certificate and key (PEM files);
// with ca (a PEM file) clients must show a certificate that ca signed (mutual TLS).
func TLSFromFiles(cert, key, ca string) (*tls.Config, error) {
	if cert == "" || key == "" {
		return nil, errs.New("gompx: natsnode: TLS needs both the server's certificate and its key")
	}
	cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key, CaFile: ca, Verify: ca != ""})
	if err != nil {
		return nil, errs.Errorf("gompx: natsnode: TLS: %w", err)
	}
	return cfg, nil
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

// Name is the node's server name.
func (n *Node) Name() string { return n.s.Name() }

// RoutedPeers returns the names of the nodes this one has a route to, each once,
// sorted.
func (n *Node) RoutedPeers() []string {
	rz, err := n.s.Routez(nil)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var names []string
	for _, r := range rz.Routes {
		if !seen[r.RemoteName] {
			seen[r.RemoteName] = true
			names = append(names, r.RemoteName)
		}
	}
	sort.Strings(names)
	return names
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

// logger forwards the server's lines to Logf and keeps its last error.
type logger struct {
	f    func(string, ...any)
	mu   sync.Mutex
	last string
}

func (l *logger) Noticef(format string, v ...any) { l.out(format, v...) }
func (l *logger) Warnf(format string, v ...any)   { l.out(format, v...) }
func (l *logger) Fatalf(format string, v ...any)  { l.err(format, v...) }
func (l *logger) Errorf(format string, v ...any)  { l.err(format, v...) }
func (l *logger) Debugf(format string, v ...any)  {}
func (l *logger) Tracef(format string, v ...any)  {}

func (l *logger) out(format string, v ...any) {
	if l.f != nil {
		l.f(format, v...)
	}
}

func (l *logger) err(format string, v ...any) {
	l.mu.Lock()
	l.last = fmt.Sprintf(format, v...)
	l.mu.Unlock()
	l.out(format, v...)
}

func (l *logger) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == "" {
		return "no error logged (in time?)"
	}
	return l.last
}
