package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/cluster/natsnode"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

// tlsParties makes, in a new dir, a CA and another CA, and the files of a client's
// certificate and key the first issued and a stranger's the other issued.
func tlsParties(t *testing.T) (dir string, ca, other *testCA, cert, key, otherCert, otherKey string) {
	dir = t.TempDir()
	ca, other = newCA(t, dir, "ca"), newCA(t, dir, "other-ca")
	_, cert, key = ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	_, otherCert, otherKey = other.issue(t, dir, "stranger", x509.ExtKeyUsageClientAuth)
	return dir, ca, other, cert, key, otherCert, otherKey
}

func newCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(dir, name+".pem")
	writePEM(t, file, "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, file: file}
}

func writePEM(t *testing.T, file, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue makes a certificate for 127.0.0.1 signed by ca; it returns the tls pair and the
// paths of its PEM files.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certFile, keyFile
}

// TestTLS: a server that requires mutual TLS serves a client with the right CA and
// certificate (a round trip through a named queue); a client that does not trust the
// server's CA, or shows no certificate, or one from another CA, gets an error, not a hang.
func TestTLS(t *testing.T) {
	dir, ca, other, cert, key, otherCert, otherKey := tlsParties(t)
	serverPair, _, _ := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := natsnode.Start(ctx, natsnode.Options{Host: "127.0.0.1", StoreDir: t.TempDir(),
		TLS: &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Shutdown)
	url := strings.Replace(node.ClientURL(), "nats://", "tls://", 1)

	c := connect(t, url, testKey, func(o *Options) { o.CAFile, o.CertFile, o.KeyFile = ca.file, cert, key })
	q := openQueue(t, c, QueueOptions{Name: "tls"})
	if err := q.Put(ctx, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	if it, err := q.Get(ctx); err != nil || string(it) != "over tls" {
		t.Fatalf("Get = %q, %v", it, err)
	}

	for _, tc := range []struct {
		name           string
		caf, crt, keyf string
		want           string
	}{
		{"server not trusted", other.file, cert, key, "certificate signed by unknown authority"},
		{"no client certificate", ca.file, "", "", ""},
		{"client from another CA", ca.file, otherCert, otherKey, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := Connect(cctx, Options{URL: url, Authkey: testKey, CAFile: tc.caf,
				CertFile: tc.crt, KeyFile: tc.keyf, ReconnectFor: time.Second})
			if err == nil {
				conn.Close()
				t.Fatal("connected")
			}
			if cctx.Err() != nil {
				t.Fatalf("the refusal took the whole wait: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}
