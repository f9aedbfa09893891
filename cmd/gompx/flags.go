package main

import (
	"flag"
	"fmt"

	"github.com/gompx/gompx/gompx/cluster"
)

// connectionFlags adds the flags every command that connects to a cluster takes:
// the credentials and TLS files of cluster.Options (empty ones come from GOMPX_NATS_*).
func connectionFlags(fs *flag.FlagSet, o *cluster.Options) {
	fs.BoolVar(&o.Insecure, "insecure", false, "allow a remote server without credentials")
	fs.StringVar(&o.User, "user", "", "NATS user")
	fs.StringVar(&o.Password, "password", "", "NATS password")
	fs.StringVar(&o.Token, "token", "", "NATS token")
	fs.StringVar(&o.NKeyFile, "nkey", "", "NATS NKey seed file")
	fs.StringVar(&o.CredsFile, "creds", "", "NATS credentials file")
	fs.StringVar(&o.CAFile, "tls-ca", "", "CA certificates of the server")
	fs.StringVar(&o.CertFile, "tls-cert", "", "client certificate")
	fs.StringVar(&o.KeyFile, "tls-key", "", "client key")
}

// parseWithURL parses args for the command fs names ("gompx worker"), whose cluster URL
// may come before the flags or after them, into o.URL.
func parseWithURL(fs *flag.FlagSet, args []string, o *cluster.Options) error {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		o.URL, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if o.URL == "" && fs.NArg() > 0 {
		o.URL = fs.Arg(0)
	}
	if o.URL == "" {
		return fmt.Errorf("%s: give the cluster's URL: %s nats://host:4222", fs.Name(), fs.Name())
	}
	return nil
}
