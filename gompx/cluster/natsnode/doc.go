// Package natsnode runs a NATS server with JetStream inside a Go program: the node
// behind `gompx server`, and the servers of gompx/cluster's tests. It is separate
// from gompx/cluster so that a client (the Python extension) does not carry the
// server.
//
//	option         default             meaning
//	Host           127.0.0.1           client address; never a wider one unless asked
//	Port           0                   client port; 0 picks a free one
//	StoreDir       (required)          JetStream's files
//	Name           the server's id      server name (set distinct ones in a cluster)
//	ClusterName    ""                  set to join a cluster: with ClusterHost/Port and Routes
//	ClusterHost    Host                route address
//	ClusterPort    0                   route port; 0 picks a free one
//	Routes         none                nats-route://host:port of the cluster's nodes (required when clustered; its own may be listed)
//	User/Password  none                client credentials required by the server
//	Token          none                client token required by the server
//	TLS            none                TLS for clients (*tls.Config; ClientAuth RequireAndVerifyClientCert: mutual)
//	RouteTLS       none                TLS on routes, both sides verified (*tls.Config; RouteTLSFromFiles)
//	ClusterAdvertise  route address     route address given to the other nodes (a proxy's)
//
// What it does not do: accounts, leaf nodes, gateways; use a stock nats-server
// configuration for those (any nats-server >= 2.10 with JetStream works with gompx).
package natsnode
