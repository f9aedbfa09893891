"""gompx-only: named queues on NATS JetStream (gompx.Queue(cluster=..., name=...)).

Every server here is a private one on loopback (``cluster="local"``, or ``gompx server``
on 127.0.0.1-3 via cluster_nodes); nothing leaves the machine.  stdlib has no cluster
queues, so these tests run for gompx alone.
"""

import binascii
import os
import pickle
import queue
import subprocess
import sys
import textwrap
import uuid

import pytest

import cluster_queue_targets as CT

pytestmark = pytest.mark.gompx_only
CLUSTER_SUITE = True  # --impl=cluster runs these too


def _name():
    return "t" + uuid.uuid4().hex[:12]


def test_put_get_many_sizes(mp):
    q = mp.Queue(cluster="local", name=_name())
    assert type(q).__module__ == "gompx._clusterqueue"
    assert q.empty() and q.qsize() == 0 and not q.full()
    items = [None, 1, "two", {"three": [3]}, b"x" * (1 << 20)]  # 1 MiB: the object store
    q.put(items[0])
    q.put_many(items[1:])
    assert q.qsize() == 5 and not q.empty()
    assert q.get() is None
    assert q.get_many(2) == items[1:3]
    assert q.get_many(10, timeout=5) == items[3:]
    with pytest.raises(queue.Empty):
        q.get(block=False)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.1)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(ValueError, match="non-negative"):
        q.get(timeout=-1)
    with pytest.raises(ValueError, match="max_messages"):
        q.get_many(0)
    q.unlink()


def test_one_name_one_queue(mp):
    name = _name()
    a = mp.Queue(cluster="local", name=name)
    b = mp.Queue(cluster="local", name=name)
    a.put_many(range(10))
    assert [b.get() for _ in range(5)] + a.get_many(5) == list(range(10))
    a.unlink()


def test_bounded(mp):
    q = mp.Queue(2, cluster="local", name=_name())
    q.put(1)
    q.put_nowait(2)
    assert q.full() and q.qsize() == 2
    with pytest.raises(queue.Full):
        q.put(3, block=False)
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.1)
    with pytest.raises(queue.Full):
        q.put_many([3, 4], timeout=0.1)
    assert q.get() == 1
    q.put(3)
    assert q.get_many(5) == [2, 3]
    with pytest.raises(ValueError, match="maxsize 2, not 3"):
        mp.Queue(3, cluster="local", name=q.name)
    q.unlink()


def test_joinable(mp):
    q = mp.JoinableQueue(cluster="local", name=_name())
    q.join()  # nothing put yet
    q.put_many(["a", "b"])
    assert q.unfinished() == 2
    assert q.get() == "a"
    q.task_done()
    assert q.get() == "b"
    q.task_done()
    q.join()
    with pytest.raises(ValueError, match="too many times"):
        q.task_done()
    with pytest.raises(ValueError, match="is a JoinableQueue, not a Queue"):
        mp.Queue(cluster="local", name=q.name)
    q.unlink()


def test_close_and_join_thread(mp):
    q = mp.Queue(cluster="local", name=_name())
    with pytest.raises(AssertionError):
        q.join_thread()
    q.put(1)
    q.close()
    q.join_thread()
    q.cancel_join_thread()
    for op in (lambda: q.put(2), q.get, lambda: q.get_many(1)):
        with pytest.raises(ValueError, match="is closed"):
            op()
    with pytest.raises(OSError, match="handle is closed"):
        q.qsize()
    again = mp.Queue(cluster="local", name=q.name)  # the queue outlives the handle
    assert again.get() == 1
    again.unlink()


def test_bad_input(mp):
    with pytest.raises(ValueError, match="needs a name"):
        mp.Queue(cluster="local")
    with pytest.raises(ValueError, match="bad queue name"):
        mp.Queue(cluster="local", name="a.b")
    with pytest.raises(ValueError, match="capacity is for local queues"):
        mp.Queue(cluster="local", name="x", capacity=1 << 20)
    with pytest.raises(TypeError, match="unexpected keyword"):
        mp.Queue(tls_ca="/nonexistent")
    with pytest.raises(TypeError, match="unexpected keyword"):
        mp.Queue(cluster="local", name="x", bogus=1)
    with pytest.raises(ValueError, match="refusing to connect to gompx.invalid:4222"):
        mp.Queue(cluster="nats://gompx.invalid:4222", name="x", authkey=b"k")
    with pytest.raises(ValueError, match="authkey"):
        env = os.environ.pop("GOMPX_AUTHKEY", None)
        try:
            mp.Queue(cluster="nats://127.0.0.1:1", name="x")
        finally:
            if env is not None:
                os.environ["GOMPX_AUTHKEY"] = env


def test_item_with_another_authkey(mp):
    name = _name()
    good = mp.Queue(cluster="local", name=name)
    evil = mp.Queue(cluster="local", name=name, authkey=b"another key")
    evil.put("forged")
    good.put("real")
    with pytest.raises(mp.AuthenticationError, match="HMAC"):
        good.get(timeout=30)
    assert good.get(timeout=30) == "real"
    good.unlink()


def test_children_share_it(mp):
    """Spawned children get the queue pickled and reopen it by name; consumers in two
    children mark items done, the parent's join() sees it."""
    ctx = mp.get_context("spawn")
    jobs = ctx.JoinableQueue(cluster="local", name=_name())
    out = ctx.Queue(cluster="local", name=_name())
    producers = [ctx.Process(target=CT.put_range, args=(jobs, k * 50, 50)) for k in range(2)]
    consumers = [ctx.Process(target=CT.drain_and_mark_done, args=(jobs, out)) for _ in range(2)]
    for p in producers + consumers:
        p.start()
    for p in producers:
        p.join(60)
        assert p.exitcode == 0
    jobs.put_many([None, None])  # one stop per consumer
    jobs.join()
    got = out.get(timeout=60) + out.get(timeout=60)
    for p in consumers:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(got) == list(range(100))  # each once
    assert jobs.unfinished() == 0 and jobs.qsize() == 0
    jobs.unlink()
    out.unlink()


_REMOTE = textwrap.dedent("""
    import pickle, sys
    import gompx
    inbox = gompx.Queue(cluster=sys.argv[1], name=sys.argv[2])
    q = inbox.get(timeout=60)  # a queue, pickled by another process: reopened by name
    q.put_many(["from %s" % sys.argv[1], q.name])
""")


def _run_elsewhere(url, inbox, key):
    env = dict(os.environ, GOMPX_AUTHKEY=binascii.hexlify(key).decode(),
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env.pop("GOMPX_LOCAL_CLUSTER", None)
    return subprocess.Popen([sys.executable, "-c", _REMOTE, url, inbox], env=env)


@pytest.mark.slow
def test_three_nodes_different_machines(mp):
    """A queue replicated on 3 nodes (127.0.0.1-3): a process attached to node 3 gets a
    queue (pickled, no authkey in it) through another queue from this process, attached
    to node 1, and puts into it; this process reads it through node 2, and join()s."""
    from cluster_nodes import Nodes
    key = b"three machines"
    with Nodes(3, 0, key) as nodes:
        opts = dict(authkey=key, replicas=3)
        shared = mp.JoinableQueue(cluster=nodes.urls[0], name="shared", **opts)
        inbox = mp.Queue(cluster=nodes.urls[0], name="inbox", **opts)
        reader = mp.JoinableQueue(cluster=nodes.urls[1], name="shared", **opts)
        shared.put("hello")
        assert b"three machines" not in pickle.dumps(shared)
        inbox.put(shared)
        other = _run_elsewhere(nodes.urls[2], "inbox", key)
        assert other.wait(120) == 0
        assert reader.get(timeout=30) == "hello"
        reader.task_done()
        assert reader.get_many(5, timeout=30) == ["from %s" % nodes.urls[2], "shared"]
        reader.task_done()
        reader.task_done()
        shared.join()
        assert reader.unfinished() == 0 and reader.empty()
