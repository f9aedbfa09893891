package cluster

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/cluster/natsnode"
)

// TestTLSPoolAndRefusals: a node made from PEM files as `gompx server --tls-cert
// --tls-key --tls-ca` makes it serves a caller and a worker that show certificates
// its CA signed (a chunk's round trip); every refusal wraps ErrTLS, comes at once,
// and says what to pass.
func TestTLSPoolAndRefusals(t *testing.T) {
	dir, ca, other, cert, key, otherCert, otherKey := tlsParties(t)
	_, serverCert, serverKey := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	cfg, err := natsnode.TLSFromFiles(serverCert, serverKey, ca.file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := natsnode.Start(ctx, natsnode.Options{Host: "127.0.0.1", StoreDir: t.TempDir(), TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Shutdown)
	url := node.ClientURL()
	if !strings.HasPrefix(url, "tls://127.0.0.1:") {
		t.Fatalf("a TLS node's URL is %q", url)
	}
	withCert := func(o *Options) { o.CAFile, o.CertFile, o.KeyFile = ca.file, cert, key }
	serveStoppable(t, connect(t, url, testKey, withCert), "w1", 1, reverse)
	k, err := NewCaller(ctx, connect(t, url, testKey, withCert))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)
	job, _ := k.NewJob()
	if err := k.Submit(ctx, job, 0, "m:f", []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	k.SetLength(job, 1)
	if r, err := k.Take(ctx, job, true); err != nil || string(r.Body) != "slt revo" {
		t.Fatalf("Take: %v %+v", err, r)
	}

	for _, tc := range []struct {
		name string
		url  string
		edit func(*Options)
		want []string
	}{
		{"no CA: the server's certificate is not trusted", url, func(o *Options) { o.CertFile, o.KeyFile = cert, key },
			[]string{"not signed by a CA this side trusts", "tls_ca"}},
		{"nats:// to a TLS server, no CA", strings.Replace(url, "tls://", "nats://", 1), nil,
			[]string{"not signed by a CA this side trusts"}},
		{"another CA", url, func(o *Options) { o.CAFile = other.file },
			[]string{"not signed by a CA this side trusts"}},
		{"no client certificate", url, func(o *Options) { o.CAFile = ca.file },
			[]string{"refused this side's certificate", "tls_cert"}},
		{"a client certificate of another CA", url, func(o *Options) { o.CAFile, o.CertFile, o.KeyFile = ca.file, otherCert, otherKey },
			[]string{"refused this side's certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			o := Options{URL: tc.url, Authkey: testKey, ReconnectFor: time.Second}
			if tc.edit != nil {
				tc.edit(&o)
			}
			c, err := Connect(cctx, o)
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			if cctx.Err() != nil {
				t.Fatalf("the refusal took the whole wait: %v", err)
			}
			if !errors.Is(err, ErrTLS) {
				t.Fatalf("error %q is not ErrTLS", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := natsnode.TLSFromFiles(serverCert, "", ""); err == nil || !strings.Contains(err.Error(), "certificate and its key") {
		t.Fatalf("TLSFromFiles without a key: %v", err)
	}
}
