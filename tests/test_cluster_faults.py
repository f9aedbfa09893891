"""gompx-only: what a user of Pool(cluster=...) sees when the cluster fails under it, and
TLS between the pool, the workers and the server.

Every server binds a loopback address (127.0.0.1-3); nothing leaves the machine.  The Go
tests (gompx/cluster/faults_test.go, partition_test.go, tls_test.go) cover the same
faults at the protocol level, a partition among them.
"""

import binascii
import contextlib
import os
import shutil
import subprocess
import sys

import pytest

import cluster_fault_targets as F

pytestmark = pytest.mark.gompx_only
CLUSTER_SUITE = True  # --impl=cluster runs these too


def _command():
    from gompx.cluster import command_path
    return command_path()


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with the
    openssl command; and a second CA that signed neither."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make the TLS test's certificates")
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "1",
                 "-subj", "/CN=gompx test " + ca, cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (d / (name + ".ext")).write_text(ext)
        _openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                 "-subj", "/CN=" + name, cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", name + ".pem", "-days", "1", "-extfile", name + ".ext",
                 cwd=d)
    return d


def _stop(*procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


@contextlib.contextmanager
def _one_node(tmp_path, key, server_args=(), worker_args=()):
    """A gompx server on 127.0.0.1 (with server_args) and a gompx worker with one
    process connected to it (with worker_args); yields (url, server)."""
    server = subprocess.Popen([_command(), "server", "--port", "0", "--store", str(tmp_path / "s"),
                               *server_args], stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        url = server.stdout.readline().strip()
        env = dict(os.environ, GOMPX_AUTHKEY=binascii.hexlify(key).decode(),
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        worker = subprocess.Popen([_command(), "worker", url, "--processes", "1", "--python",
                                   sys.executable, *worker_args], env=env)
        yield url, server
    finally:
        _stop(*[p for p in (worker, server) if p is not None])
        server.stdout.close()


def test_tls_mutual(mp, certs, tmp_path):
    """gompx server --tls-*, gompx worker tls://... with its certificate, and a pool with
    tls_ca/tls_cert/tls_key: tasks run.  A pool without the CA, or without a client
    certificate, is refused at once with a message saying what to pass."""
    import gompx
    from pool_targets import square
    c = str(certs)
    key = b"tls key"
    tls = dict(tls_ca=c + "/ca.pem", tls_cert=c + "/client.pem", tls_key=c + "/client.key")
    with _one_node(tmp_path, key,
                   ("--tls-cert", c + "/server.pem", "--tls-key", c + "/server.key",
                    "--tls-ca", c + "/ca.pem"),
                   ("--tls-ca", tls["tls_ca"], "--tls-cert", tls["tls_cert"],
                    "--tls-key", tls["tls_key"])) as (url, _):
        assert url.startswith("tls://127.0.0.1:"), url
        with gompx.Pool(1, cluster=url, authkey=key, **tls) as pool:
            assert pool.map(square, range(10)) == [x * x for x in range(10)]
        for kwargs, message in (
                (dict(tls, tls_ca=None), "not signed by a CA this side trusts.*tls_ca"),
                (dict(tls, tls_ca=c + "/other-ca.pem"), "not signed by a CA this side trusts"),
                (dict(tls_ca=tls["tls_ca"]), "refused this side's certificate.*tls_cert")):
            with pytest.raises(OSError, match=message):
                gompx.Pool(1, cluster=url, authkey=key, connect_timeout=20, **kwargs)


def _connected_ports():
    """Remote ports of this process's established TCP connections to 127.0.0.0/8."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    with open("/proc/self/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == "01" and inode in inodes and remote.split(":")[0].endswith("7F"):
                ports.add(int(remote.split(":")[1], 16))
    return ports


@pytest.mark.slow
def test_callers_server_dies_it_reconnects(mp, tmp_path):
    """Three nodes, replicas 3: the server the pool is connected to is SIGKILLed
    mid-map; the pool reconnects to another node and every result arrives, once."""
    import gompx
    from cluster_nodes import Nodes
    key = b"reconnect"
    with Nodes(3, 2, key, ack_wait="6s") as nodes:
        with gompx.Pool(6, cluster=nodes.url, authkey=key, replicas=3, ack_wait=6) as pool:
            n = 60
            r = pool.starmap_async(F.slow_first_run, [(str(tmp_path), i, 0.1) for i in range(n)],
                                   chunksize=1)
            for _ in range(6000):  # bounded: 60 s
                if len(os.listdir(tmp_path)) >= 10:
                    break
                r.wait(0.01)
            ports = _connected_ports()
            mine = [i for i, u in enumerate(nodes.urls) if int(u.rsplit(":", 1)[1]) in ports]
            assert len(mine) == 1, (ports, nodes.urls)
            nodes.kill_server(mine[0])
            assert r.get(180) == list(range(n))
            runs = {int(name.split("-")[0]) for name in os.listdir(tmp_path)}
            assert runs == set(range(n))
            duplicates, forged = map(int, gompx._native.call(
                gompx._native.ext.gompxcore_ClusterStats, pool._handle).split())
            assert forged == 0
            assert _connected_ports() & {int(u.rsplit(":", 1)[1]) for u in nodes.urls}


def _server_killed_while_a_task_runs(pool, server, runs):
    """Start a long task, SIGKILL the server once the task runs (it was stored); the
    task's AsyncResult."""
    r = pool.apply_async(F.slow_first_run, (str(runs), 0, 60))
    for _ in range(6000):  # bounded: 60 s
        if os.listdir(runs):
            break
        r.wait(0.01)
    server.kill()
    server.wait(30)
    return r


@pytest.mark.slow
def test_every_server_gone_is_an_error_not_a_hang(mp, tmp_path):
    """The pool's only server is SIGKILLed while a task runs: once the client gives up
    reconnecting (10 s), the waiting get() raises OSError saying the cluster is lost."""
    import gompx
    key = b"gone"
    with _one_node(tmp_path, key) as (url, server):
        (tmp_path / "runs").mkdir()
        pool = gompx.Pool(1, cluster=url, authkey=key)
        try:
            r = _server_killed_while_a_task_runs(pool, server, tmp_path / "runs")
            with pytest.raises(OSError, match="lost the cluster"):
                r.get(120)
        finally:
            with pytest.warns(RuntimeWarning, match="did not clean up after the pool"):
                pool.terminate()


def test_reconnect_timeout_is_the_pools(mp, tmp_path):
    """Pool(reconnect_timeout=1): the pool's only server is SIGKILLed while a task runs;
    the client gives up reconnecting after 1 s (the default is 10 s), so the get() that
    waits 8 s raises OSError, not TimeoutError.  Queues take it too."""
    import gompx
    with pytest.raises(ValueError, match="reconnect_timeout must be a positive number"):
        gompx.Pool(1, cluster="nats://127.0.0.1:1", authkey=b"k", reconnect_timeout=0)
    key = b"reconnect timeout"
    with _one_node(tmp_path, key) as (url, server):
        (tmp_path / "runs").mkdir()
        q = gompx.Queue(cluster=url, name="reconnect", authkey=key, reconnect_timeout=1)
        pool = gompx.Pool(1, cluster=url, authkey=key, reconnect_timeout=1)
        try:
            r = _server_killed_while_a_task_runs(pool, server, tmp_path / "runs")
            with pytest.raises(OSError, match="lost the cluster"):
                r.get(8)
            with pytest.raises(OSError):
                q.get(timeout=8)
        finally:
            with pytest.warns(RuntimeWarning, match="did not clean up after the pool"):
                pool.terminate()
            q.close()
