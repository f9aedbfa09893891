package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/cluster/natsnode"
)

// pki is a test CA and the PEM files it signed, in one directory.
type pki struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	CA   string // the CA's certificate
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), cert: cert, key: key}
	p.CA = p.write(t, name+"-ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue signs a certificate for name (a server's for 127.0.0.1-3 when server, else a
// client's) and returns its certificate and key files.
func (p *pki) issue(t *testing.T, name string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2"), net.ParseIP("127.0.0.3")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

// startTLSNode runs a single node serving clients over TLS; mutual asks it to require
// client certificates signed by the same CA.
func startTLSNode(t *testing.T, ca *pki, mutual bool) *natsnode.Node {
	t.Helper()
	cert, key := ca.issue(t, "server", true)
	o := natsnode.Options{Host: "127.0.0.1", StoreDir: t.TempDir(), TLSCert: cert, TLSKey: key}
	if mutual {
		o.TLSCA = ca.CA
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := natsnode.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Shutdown)
	return n
}

// TestTLS runs a round trip with a caller and a worker over TLS (mutual: both show a
// certificate the server's CA signed), then connects without what TLS needs.
func TestTLS(t *testing.T) {
	ca := newPKI(t, "gompx test")
	node := startTLSNode(t, ca, true)
	url := node.ClientURL()
	if !strings.HasPrefix(url, "tls://127.0.0.1:") {
		t.Fatalf("a TLS node's URL is %q", url)
	}
	cert, key := ca.issue(t, "client", false)
	withCert := func(o *Options) { o.CAFile, o.CertFile, o.KeyFile = ca.CA, cert, key }
	serve(t, connect(t, url, testKey, withCert), "w1", 1, reverse)
	caller := connect(t, url, testKey, withCert)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k, err := NewCaller(ctx, caller)
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

	other := newPKI(t, "another")
	ocert, okey := other.issue(t, "stranger", false)
	for _, tc := range []struct {
		name string
		url  string
		edit func(*Options)
		want []string
		is   error
	}{
		{"no CA: the server's certificate is not trusted", url, func(o *Options) { o.CertFile, o.KeyFile = cert, key },
			[]string{"not signed by a CA this side trusts", "tls_ca"}, ErrTLS},
		{"nats:// to a TLS server, no CA", strings.Replace(url, "tls://", "nats://", 1), nil,
			[]string{"not signed by a CA this side trusts"}, ErrTLS},
		{"another CA", url, func(o *Options) { o.CAFile = other.CA },
			[]string{"not signed by a CA this side trusts"}, ErrTLS},
		{"no client certificate", url, func(o *Options) { o.CAFile = ca.CA },
			[]string{"refused"}, ErrTLS},
		{"a client certificate of another CA", url, func(o *Options) { o.CAFile, o.CertFile, o.KeyFile = ca.CA, ocert, okey },
			[]string{"refused"}, ErrTLS},
		{"a CA file that does not exist", url, func(o *Options) { o.CAFile = cert + ".missing" },
			[]string{"tls"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			o := Options{URL: tc.url, Authkey: testKey, ReconnectFor: time.Second}
			if tc.edit != nil {
				tc.edit(&o)
			}
			c, err := Connect(ctx, o)
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(w)) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q is not %v", err, tc.is)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("a refusal waited for the deadline: %v", err)
			}
		})
	}
}
