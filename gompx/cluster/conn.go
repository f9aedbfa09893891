package cluster

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options say how to reach the cluster and with which key.
type Options struct {
	// URL is one or more server URLs, comma-separated ("nats://h1:4222,h2:4222").
	URL string
	// Authkey keys the HMAC of every task and result. Required.
	Authkey []byte
	// Insecure allows a server that is not on this machine without credentials
	// (user, token, NKey, creds file or a TLS client certificate).
	Insecure bool
	// Credentials; empty fields are taken from GOMPX_NATS_USER, _PASSWORD, _TOKEN,
	// _NKEY (a seed file), _CREDS (a creds file).
	User, Password, Token, NKeyFile, CredsFile string
	// TLS files; empty fields come from GOMPX_NATS_CA, _CERT, _KEY.
	CAFile, CertFile, KeyFile string
	// Name is the connection's name, as the server's monitoring shows it.
	Name string
	// Replicas of the shared streams when this connection creates them (1 if 0).
	Replicas int
	// AckWait of the workers' consumer when this connection creates it (30 s if 0).
	AckWait time.Duration
	// CallerExpiry is how long after its caller stopped pulling a pool's result
	// consumer is deleted by the server, and with it the pool's unrun tasks
	// (30 s if 0).
	CallerExpiry time.Duration
	// ReconnectFor bounds how long a lost connection is retried before calls fail
	// (10 s if 0).
	ReconnectFor time.Duration
	// Logf, if set, receives the connection's asynchronous errors (a node's socket
	// reset, a slow consumer), which the NATS client would otherwise print to the
	// program's stderr: the calls they affect fail or retry on their own.
	Logf func(format string, args ...any)
	// MaxTasksPerWorker, for a Caller on this connection: a worker process that has
	// run this many of the caller's chunks exits and is replaced (the Pool's
	// maxtasksperchild, counted per caller on each worker machine); 0: never.
	MaxTasksPerWorker int
}

// ErrInsecure is wrapped by the error of a connection refused for lack of
// credentials to a server that is not on this machine.
var ErrInsecure = errs.New("gompx: insecure connection")

// ErrTLS is wrapped by the error of a connection that TLS refused: a server whose
// certificate this side does not trust, or a server that wants a client certificate
// this side did not give (or one its CA did not sign).
var ErrTLS = errs.New("gompx: TLS refused the connection")

// Conn is a connection to the cluster with JetStream.
type Conn struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts Options
}

// fromEnv fills what the caller left empty from the environment.
func (o *Options) fromEnv() {
	for _, f := range []struct {
		dst *string
		env string
	}{
		{&o.User, "GOMPX_NATS_USER"}, {&o.Password, "GOMPX_NATS_PASSWORD"},
		{&o.Token, "GOMPX_NATS_TOKEN"}, {&o.NKeyFile, "GOMPX_NATS_NKEY"},
		{&o.CredsFile, "GOMPX_NATS_CREDS"}, {&o.CAFile, "GOMPX_NATS_CA"},
		{&o.CertFile, "GOMPX_NATS_CERT"}, {&o.KeyFile, "GOMPX_NATS_KEY"},
	} {
		if *f.dst == "" {
			*f.dst = os.Getenv(f.env)
		}
	}
}

func (o *Options) hasCredentials() bool {
	return o.User != "" || o.Token != "" || o.NKeyFile != "" || o.CredsFile != "" || o.CertFile != ""
}

// isLoopback reports whether host names this machine: 127.0.0.0/8, ::1, localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkURLs parses the URL list and refuses a remote server without credentials
// unless Insecure: whoever can publish tasks runs code on the workers.
func (o *Options) checkURLs() error {
	if strings.TrimSpace(o.URL) == "" {
		return errs.New("gompx: no cluster URL (\"nats://host:4222\")")
	}
	for _, raw := range strings.Split(o.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Host == "" {
			return errs.Errorf("gompx: bad cluster URL %q (want nats://host:port)", raw)
		}
		if u.User != nil {
			continue // credentials in the URL
		}
		if !isLoopback(u.Hostname()) && !o.hasCredentials() && !o.Insecure {
			return errs.Errorf("%w: refusing to connect to %s without credentials: whoever "+
				"can publish tasks there runs code on the workers; give credentials (user and "+
				"password, token, NKey or creds file) or pass insecure=True", ErrInsecure, u.Host)
		}
	}
	return nil
}

func (o *Options) natsOptions() ([]nats.Option, error) {
	reconnect := o.ReconnectFor
	if reconnect <= 0 {
		reconnect = 10 * time.Second
	}
	const wait = 250 * time.Millisecond
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	opts := []nats.Option{
		nats.Name(o.Name), nats.Timeout(5 * time.Second),
		nats.ReconnectWait(wait), nats.MaxReconnects(int(reconnect / wait)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logf("gompx: cluster connection: %v", err)
		}),
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, errs.Errorf("gompx: NKey seed %s: %w", o.NKeyFile, err)
		}
		opts = append(opts, opt)
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	if o.CertFile != "" || o.KeyFile != "" {
		opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
	}
	return opts, nil
}

// Connect connects to the cluster. ctx bounds the connection attempt.
func Connect(ctx context.Context, opts Options) (*Conn, error) {
	opts.fromEnv()
	if len(opts.Authkey) == 0 {
		return nil, errs.New("gompx: an authkey is required to sign tasks and results")
	}
	nc, err := dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		nc.Close()
		return nil, errs.Errorf("gompx: jetstream: %w", err)
	}
	c := &Conn{nc: nc, js: js, opts: opts}
	if err := c.ensure(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// dial opens the NATS connection with opts' credentials and TLS, after the
// loopback-or-credentials check; ctx bounds the attempt, which nats.Connect itself
// cannot be interrupted in.
func dial(ctx context.Context, opts Options) (*nats.Conn, error) {
	if err := opts.checkURLs(); err != nil {
		return nil, err
	}
	nopts, err := opts.natsOptions()
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nopts = append(nopts, nats.Timeout(time.Until(dl)))
	}
	type dialed struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		nc, err := nats.Connect(opts.URL, nopts...)
		ch <- dialed{nc, err}
	}()
	var d dialed
	select {
	case d = <-ch:
	case <-ctx.Done():
		go func() {
			if d := <-ch; d.nc != nil {
				d.nc.Close()
			}
		}()
		return nil, errs.Errorf("gompx: connect to %s: %w", opts.URL, errs.Deadline(ctx.Err()))
	}
	if d.err != nil {
		return nil, errs.Errorf("gompx: connect to %s: %w", opts.URL, explainTLS(d.err))
	}
	return d.nc, nil
}

// Close closes the connection. It is idempotent.
func (c *Conn) Close() { c.nc.Close() }

// ensure creates the shared streams and the workers' consumer if they are missing;
// existing ones are used as they are. While a cluster's JetStream is still forming
// (no meta leader, too few peers for the replicas yet) it retries until ctx is done.
func (c *Conn) ensure(ctx context.Context) error {
	return retry(ctx, c.ensureOnce)
}

// retry calls f, each time with at most 2 s, until it succeeds, fails for good, or ctx
// is done: JetStream requests get no answer while a cluster elects leaders.
func retry(ctx context.Context, f func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := f(actx)
		cancel()
		if err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errs.Errorf("%w (still failing when time ran out: %v)", errs.Deadline(ctx.Err()), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// transient reports an error that a JetStream cluster still forming gives.
func transient(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.Code == 503 || api.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled ||
			strings.Contains(api.Description, "insufficient resources") ||
			strings.Contains(api.Description, "no suitable peers")
	}
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

func (c *Conn) ensureOnce(ctx context.Context) error {
	replicas := max(c.opts.Replicas, 1)
	streams := []jetstream.StreamConfig{{
		Name: TasksStream, Subjects: []string{taskPrefix + "*"}, Retention: jetstream.WorkQueuePolicy,
		MaxAge: 24 * time.Hour, Duplicates: 2 * time.Minute, Replicas: replicas, Storage: jetstream.FileStorage,
	}, {
		Name: ResultsStream, Subjects: []string{resultPrefix + "*"}, Retention: jetstream.WorkQueuePolicy,
		MaxAge: time.Hour, Duplicates: 2 * time.Minute, Replicas: replicas, Storage: jetstream.FileStorage,
	}}
	for _, cfg := range streams {
		if _, err := c.js.Stream(ctx, cfg.Name); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return errs.Errorf("gompx: stream %s: %w", cfg.Name, err)
		}
		if _, err := c.js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return errs.Errorf("gompx: create stream %s: %w", cfg.Name, err)
		}
	}
	ackWait := c.opts.AckWait
	if ackWait <= 0 {
		ackWait = 30 * time.Second
	}
	_, err := c.js.Consumer(ctx, TasksStream, WorkerConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		_, err = c.js.CreateConsumer(ctx, TasksStream, jetstream.ConsumerConfig{
			Durable: WorkerConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
			MaxDeliver: MaxDeliveries + 1, MaxAckPending: 10000, Replicas: replicas,
		})
		if errors.Is(err, jetstream.ErrConsumerExists) {
			err = nil
		}
	}
	if err != nil {
		return errs.Errorf("gompx: consumer %s: %w", WorkerConsumer, err)
	}
	return nil
}

// objects returns the object store, created on first use.
func (c *Conn) objects(ctx context.Context) (jetstream.ObjectStore, error) {
	s, err := c.js.ObjectStore(ctx, ObjectBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		s, err = c.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: ObjectBucket, TTL: 24 * time.Hour, Replicas: max(c.opts.Replicas, 1),
			Storage: jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = c.js.ObjectStore(ctx, ObjectBucket)
		}
	}
	if err != nil {
		return nil, errs.Errorf("gompx: object store %s: %w", ObjectBucket, err)
	}
	return s, nil
}

// putObject stores body under name.
func (c *Conn) putObject(ctx context.Context, name string, body []byte) error {
	s, err := c.objects(ctx)
	if err != nil {
		return err
	}
	if _, err := s.PutBytes(ctx, name, body); err != nil {
		return errs.Errorf("gompx: object %s: %w", name, err)
	}
	return nil
}

func (c *Conn) getObject(ctx context.Context, name string) ([]byte, error) {
	s, err := c.objects(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.GetBytes(ctx, name)
	if err != nil {
		return nil, errs.Errorf("gompx: object %s: %w", name, err)
	}
	return b, nil
}

func (c *Conn) deleteObject(ctx context.Context, name string) {
	if s, err := c.objects(ctx); err == nil {
		_ = s.Delete(ctx, name)
	}
}

// explainTLS says what to do about a TLS refusal; other errors pass unchanged.
func explainTLS(err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var op *net.OpError
	switch {
	case errors.As(err, &unknown):
		return errs.Errorf("%w: the server's certificate is not signed by a CA this side trusts; "+
			"give the CA that signed it (tls_ca=, --tls-ca or GOMPX_NATS_CA): %w", ErrTLS, err)
	case errors.As(err, &host):
		return errs.Errorf("%w: the server's certificate is not for the address in the URL: %w", ErrTLS, err)
	case errors.As(err, &op) && op.Op == "remote error", // a TLS alert from the server
		// TLS 1.3: the server checks the client's certificate after the client saw the
		// handshake complete, and may close without an alert the client reads.
		errors.Is(err, nats.ErrTLS) && strings.Contains(err.Error(), "closed by remote after TLS handshake"):
		return errs.Errorf("%w: the server refused this side's certificate (none given, or one its CA did "+
			"not sign); give a client certificate and key its CA signed (tls_cert= and tls_key=, "+
			"--tls-cert and --tls-key, or GOMPX_NATS_CERT and _KEY): %w", ErrTLS, err)
	case errors.Is(err, nats.ErrTLS):
		return errs.Errorf("%w: %w", ErrTLS, err)
	}
	return err
}
