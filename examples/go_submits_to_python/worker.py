"""A stock-CPython worker that a Go program submits jobs to (go_submits_to_python).

    python worker.py [unix|tcp] [AUTHKEY]

Listens with ``multiprocessing.connection.Listener`` only (no gompx), prints its address
as Go's ``gompx.Dial`` takes it (a path, ``@name``, or ``host:port``), accepts one
connection and answers each job ``(function name, args)`` with the function's result,
or ``("error", repr)``, until it receives ``None``.
"""

import hashlib
import math
import sys
from multiprocessing.connection import Listener

JOBS = {"sha256": lambda b: hashlib.sha256(b).hexdigest(), "factorial": math.factorial,
        "sorted": sorted, "pow": pow}


def go_address(address):
    if isinstance(address, tuple):
        return "%s:%d" % address
    return address


def main():
    family = {"unix": "AF_UNIX", "tcp": "AF_INET"}[sys.argv[1] if len(sys.argv) > 1 else "unix"]
    authkey = sys.argv[2].encode() if len(sys.argv) > 2 else b"secret"
    with Listener(family=family, authkey=authkey) as listener:
        print(go_address(listener.address), flush=True)
        with listener.accept() as conn:
            while (job := conn.recv()) is not None:
                name, args = job
                try:
                    conn.send(JOBS[name](*args))
                except Exception as e:
                    conn.send(("error", repr(e)))


if __name__ == "__main__":
    main()
