package main

import (
	"flag"

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

// urlFirst splits a leading URL argument off args, so that flags may follow it.
func urlFirst(args []string) (url string, rest []string) {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "", args
}
