"""Clusters of real ``gompx server`` and ``gompx worker`` processes on this machine, for
the cluster tests and ``bench/bench_cluster.py``.

Node i (0-based) binds 127.0.0.(i+1) only, on free ports; nothing leaves the machine.
"""

import binascii
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

__all__ = ["Nodes"]


def _free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _command():
    from gompx.cluster import command_path
    return command_path()


class Nodes:
    """``n`` servers (clustered when n > 1), and one ``gompx worker`` with ``processes``
    processes connected to each."""

    def __init__(self, n, processes, authkey, ack_wait="30s", replicas=None):
        self.authkey = authkey
        self.dir = tempfile.mkdtemp(prefix="gompx-nodes-")
        self.hosts = ["127.0.0.%d" % (i + 1) for i in range(n)]
        self.servers, self.workers, self.urls = [], [], []
        self.replicas = replicas or min(n, 3)
        try:
            self._start_servers()
            for i in range(n if processes else 0):  # processes=0: servers alone
                self.workers.append(self._start_worker(i, processes, ack_wait))
        except BaseException:
            self.stop()
            raise

    @property
    def url(self):
        return ",".join(self.urls)

    def _start_servers(self):
        ports = [_free_port(h) for h in self.hosts]
        routes = ",".join("nats-route://%s:%d" % hp for hp in zip(self.hosts, ports))
        self._server_args = []
        for i, host in enumerate(self.hosts):
            args = [_command(), "server", "--host", host, "--port", "0", "--name", "n%d" % (i + 1),
                    "--store", os.path.join(self.dir, "n%d" % (i + 1))]
            if len(self.hosts) > 1:
                args += ["--cluster-name", "gompx-test", "--cluster-port", str(ports[i]),
                         "--routes", routes]
            self._server_args.append(args)
            self.servers.append(None)
            self.urls.append(None)
            self._start_server(i)

    def _start_server(self, i):
        """Start node i's server (again: same name, routes and store, a new client port)."""
        p = subprocess.Popen(self._server_args[i], stdout=subprocess.PIPE, text=True)
        self.servers[i] = p
        url = p.stdout.readline().strip()
        if not url.startswith("nats://%s:" % self.hosts[i]):
            raise RuntimeError("gompx server on %s printed %r" % (self.hosts[i], url))
        self.urls[i] = url

    def _start_worker(self, i, processes, ack_wait):
        env = dict(os.environ, GOMPX_AUTHKEY=binascii.hexlify(self.authkey).decode(),
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        return subprocess.Popen([_command(), "worker", self.urls[i], "--processes", str(processes),
                                 "--python", sys.executable, "--ack-wait", ack_wait,
                                 "--replicas", str(self.replicas)], env=env)

    def kill_worker(self, i):
        """SIGKILL node i's gompx worker (its Python processes die with it)."""
        self.workers[i].send_signal(signal.SIGKILL)
        self.workers[i].wait(30)

    def kill_server(self, i):
        self.servers[i].send_signal(signal.SIGKILL)
        self.servers[i].wait(30)

    def kill_node(self, i):
        """SIGKILL node i: its server and its worker, as when the machine dies."""
        for p in (self.servers[i], self.workers[i]):
            p.send_signal(signal.SIGKILL)
        for p in (self.servers[i], self.workers[i]):
            p.wait(30)

    def restart_node(self, i, processes, ack_wait):
        """Bring a killed node back: its server on its store, then its worker."""
        self._start_server(i)
        self.workers[i] = self._start_worker(i, processes, ack_wait)

    def streams(self, url=None):
        """``gompx info --json`` of the cluster: each stream's leader and replicas."""
        out = subprocess.run([_command(), "info", url or self.url, "--json"], check=True,
                             capture_output=True, text=True, timeout=60).stdout
        return {s["name"]: s for s in json.loads(out)}

    def settled(self, stream, timeout=60):
        """The index of the node leading stream once every replica is current, for a
        kill to land on a healthy cluster."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                s = self.streams().get(stream)
            except subprocess.CalledProcessError:
                s = None  # a node still starting
            if s and s["leader"] and all(r["current"] and not r["offline"]
                                         for r in s["replicas"] or []) \
                    and len(s["replicas"] or []) == len(self.hosts) - 1:
                return int(s["leader"][1:]) - 1
            if time.monotonic() > deadline:
                raise RuntimeError("%s not settled after %g s: %r" % (stream, timeout, s))
            time.sleep(0.2)

    def stop(self):
        for p in self.workers + self.servers:
            if p.poll() is None:
                p.terminate()
        for p in self.workers + self.servers:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
