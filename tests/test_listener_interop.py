"""gompx's Listener and Client against stock CPython 3.10-3.13, each in its own process.

Every pair of (gompx, each CPython found) on the two ends, in both roles: AF_UNIX paths,
abstract names and AF_INET, without and with an authkey, a wrong key (both ends must
raise AuthenticationError), 8 MiB messages both ways.  Pairs of two stock CPythons run
too, with a key: they are the reference matrix gompx must fit into.  The CPythons are
found under pyenv (PYENV_ROOT, else ~/.pyenv) and as GOMPX_INTEROP_PYTHONS (colon-separated
paths); without any, the tests skip with the reason.
"""

import glob
import os
import subprocess
import sys

import pytest

import conftest

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "listener_peer.py")


def stock_pythons():
    found = {}
    paths = [p for p in os.environ.get("GOMPX_INTEROP_PYTHONS", "").split(":") if p]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for minor in (10, 11, 12, 13):
        paths += sorted(glob.glob(os.path.join(root, "versions", "3.%d.*" % minor, "bin",
                                               "python3.%d" % minor)))
    for path in paths:
        try:
            out = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            continue
        if out and out not in found and tuple(map(int, out.split("."))) >= (3, 10):
            found[out] = path
    return found


STOCK = stock_pythons()
ENDS = [("gompx", sys.executable)] + [("cpython" + v, p) for v, p in sorted(STOCK.items())]


def run_pair(server, client, family, server_key, client_key, digest=None, timeout=60):
    """Run a listener and a client; return their (returncode, stdout, stderr) each."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH")) if p)
    if digest:
        env["DIGEST"] = digest

    def argv(end, role, key, *extra):
        name, python = end
        impl = "gompx" if name == "gompx" else "stdlib"
        return [python, PEER, impl, role, family, key or "-", *extra]
    listener = subprocess.Popen(argv(server, "listener", server_key), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
    try:
        address = listener.stdout.readline().strip()
        if not address:
            out, err = listener.communicate(timeout=timeout)
            pytest.fail("listener printed no address: %s %s" % (out, err))
        client = subprocess.run(argv(client, "client", client_key, address),
                                capture_output=True, text=True, timeout=timeout, env=env)
        out, err = listener.communicate(timeout=timeout)
    finally:
        listener.kill()
        listener.wait()
    return (listener.returncode, out.strip(), err), (client.returncode, client.stdout.strip(),
                                                     client.stderr)


def check(result, want):
    code, out, err = result
    assert out.splitlines()[-1:] == [want], "exit %s, stdout %r, stderr:\n%s" % (code, out, err)


def pairs(with_stock_pairs):
    for s in ENDS:
        for c in ENDS:
            if "gompx" in (s[0], c[0]) or with_stock_pairs:
                yield pytest.param(s, c, id="%s-listens-%s-connects" % (s[0], c[0]))


needs_stock = pytest.mark.skipif(not STOCK, reason="no stock CPython 3.10-3.13 found "
                                 "(pyenv or GOMPX_INTEROP_PYTHONS)")
@pytest.fixture(autouse=True)
def gompx_importable():
    # A broken gompx fails here, with the import error, rather than as a peer's traceback.
    if conftest._import_gompx() is None:
        pytest.fail("gompx cannot be imported:\n" + conftest._gompx_error, pytrace=False)


@needs_stock
@pytest.mark.parametrize("family", ["unix", "abstract", "inet"])
@pytest.mark.parametrize("keys", [(None, None), ("s3cret", "s3cret")], ids=["nokey", "key"])
@pytest.mark.parametrize("server,client", list(pairs(False)))
def test_exchange(server, client, family, keys):
    s, c = run_pair(server, client, family, *keys)
    check(s, "ok")
    check(c, "ok")


@needs_stock
@pytest.mark.parametrize("family", ["unix", "inet"])
@pytest.mark.parametrize("server,client", list(pairs(False)))
def test_wrong_key_fails_on_both_ends(server, client, family):
    s, c = run_pair(server, client, family, "right", "wrong")
    check(s, "auth-error")
    check(c, "auth-error")


@needs_stock
@pytest.mark.parametrize("server,client", list(pairs(True)))
def test_reference_matrix_with_key(server, client):
    s, c = run_pair(server, client, "unix", "k", "k")
    check(s, "ok")
    check(c, "ok")


def modern(end):
    return end[0] == "gompx" or end[0] >= "cpython3.12"


@needs_stock
@pytest.mark.parametrize("digest", ["md5", "sha384", "sha3_256"])
@pytest.mark.parametrize("server,client",
                         [p for p in pairs(False) if all(modern(e) for e in p.values)])
def test_explicit_challenges_with_digest(server, client, digest):
    s, c = run_pair(server, client, "unix", "k", "k", digest=digest)
    check(s, "ok")
    check(c, "ok")
