"""Servers for test_hostile_peers.py, each run in its own interpreter.

    python hostile_targets.py MODULE listener KEY   # KEY "-" for no authkey

prints the Listener's address as a JSON line, then serves one client at a time: accept,
receive one message with recv_bytes(), echo it back, close.  Every client ends in one JSON
line on stdout: {"where": "accept" | "recv" | "served", "type": exception class name,
"message": str(exception), "rss_kb": VmRSS after it}.  A server that crashes or hangs
shows as a missing line, which the test's bounded read reports.
"""

import importlib
import json
import sys


def rss_kb(pid="self"):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def report(where, error=None):
    print(json.dumps({"where": where,
                      "type": type(error).__name__ if error is not None else None,
                      "message": str(error) if error is not None else None,
                      "rss_kb": rss_kb()}), flush=True)


def serve_listener(modname, key):
    connection = importlib.import_module(modname + ".connection")
    authkey = None if key == "-" else key.encode()
    listener = connection.Listener(("127.0.0.1", 0), authkey=authkey)
    print(json.dumps(list(listener.address)), flush=True)
    while True:
        try:
            conn = listener.accept()
        except Exception as e:
            report("accept", e)
            continue
        try:
            conn.send_bytes(conn.recv_bytes())
        except Exception as e:
            report("recv", e)
        else:
            report("served")
        finally:
            conn.close()


if __name__ == "__main__":
    modname, kind, key = sys.argv[1:4]
    if kind == "listener":
        serve_listener(modname, key)
