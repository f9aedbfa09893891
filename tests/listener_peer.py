"""One end of a Listener/Client exchange in its own interpreter (test_listener_interop.py).

    python listener_peer.py IMPL ROLE FAMILY KEY [ADDRESS]

IMPL is ``gompx`` or ``stdlib``; ROLE ``listener`` or ``client``; FAMILY ``unix``,
``abstract`` or ``inet`` (the listener picks the address); KEY ``-`` for none, else the
key's text; ADDRESS (client) is the ``repr`` the listener printed first.  With
DIGEST=name in the environment, both ends skip the built-in handshake and call
``deliver_challenge(c, key, digest_name=name)`` / ``answer_challenge`` themselves.

The client sends ``("add", 2, 3)`` and expects 5, sends 8 MiB and expects its SHA-256,
then receives 8 MiB and answers its SHA-256.  Each end prints ``ok`` when done, or
``auth-error`` and exits 3 on AuthenticationError.
"""

import ast
import hashlib
import importlib
import os
import sys

impl, role, family, key = sys.argv[1:5]
mp = importlib.import_module("gompx" if impl == "gompx" else "multiprocessing")
connection = importlib.import_module(mp.__name__ + ".connection")
authkey = None if key == "-" else key.encode()
digest = os.environ.get("DIGEST")
LARGE = bytes(range(256)) * (32 << 10)  # 8 MiB


def handshake(c, order):
    for step in order:
        if step == "D":
            connection.deliver_challenge(c, authkey, digest_name=digest)
        else:
            connection.answer_challenge(c, authkey)


def serve(c):
    op, a, b = c.recv()
    assert op == "add"
    c.send(a + b)
    c.send_bytes(hashlib.sha256(c.recv_bytes()).digest())
    c.send_bytes(LARGE)
    assert c.recv_bytes() == hashlib.sha256(LARGE).digest()


def ask(c):
    c.send(("add", 2, 3))
    assert c.recv() == 5
    c.send_bytes(LARGE)
    assert c.recv_bytes() == hashlib.sha256(LARGE).digest()
    c.send_bytes(hashlib.sha256(c.recv_bytes()).digest())


try:
    if role == "listener":
        address = {"unix": None, "inet": ("127.0.0.1", 0),
                   "abstract": "\0gompx-interop-%d" % os.getpid()}[family]
        with connection.Listener(address, authkey=None if digest else authkey) as listener:
            print(repr(listener.address), flush=True)
            with listener.accept() as c:
                if digest:
                    handshake(c, "DA")
                serve(c)
    else:
        address = ast.literal_eval(sys.argv[5])
        with connection.Client(address, authkey=None if digest else authkey) as c:
            if digest:
                handshake(c, "AD")
            ask(c)
    print("ok", flush=True)
except mp.AuthenticationError:
    print("auth-error", flush=True)
    sys.exit(3)
