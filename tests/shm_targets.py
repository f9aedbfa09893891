"""Children and unrelated processes for test_shared_memory.py.

Child targets (run by ``Process``) take the module name of the implementation under test.
Run as a script, this module is an *unrelated* process that holds a segment and obeys
one command per line on stdin, answering one line on stdout::

    python shm_targets.py gompx create NAME SIZE   # or: attach NAME
    -> "ready <size> <sha256 of buf>"
    write <offset> <text>   -> "ok"
    read <offset> <n>       -> the n bytes at offset, as text
    digest                  -> sha256 of buf
    close                   -> "ok" (this process no longer holds the segment)
    unlink                  -> "ok", or the exception's name
    exit                    -> (exits 0)
"""

import hashlib
import importlib
import os
import sys


def shared_memory(modname):
    return importlib.import_module(modname + ".shared_memory")


def digest(buf):
    return hashlib.sha256(buf).hexdigest()


# --- child targets ------------------------------------------------------------------

def write_through(conn, shm, text):
    """Write *text* at the start of the SharedMemory *shm* (pickled by name), report."""
    shm.buf[:len(text)] = text
    conn.send((shm.name, shm.size, digest(shm.buf)))
    shm.close()


def edit_list(conn, sl):
    """Change a pickled ShareableList in place and send back what the child sees."""
    sl[0] = sl[0] * 2
    sl[1] = "child"
    conn.send((sl.shm.name, list(sl)))
    sl.shm.close()


def attach_by_name(conn, modname, name):
    """Attach by name (not pickled), send the contents' digest and size."""
    shm = shared_memory(modname).SharedMemory(name)
    conn.send((shm.size, digest(shm.buf)))
    shm.close()


# --- an unrelated process -----------------------------------------------------------

def _serve(shm):
    print("ready", shm.size, digest(shm.buf), flush=True)
    for line in sys.stdin:
        cmd, *args = line.split(maxsplit=2)
        if cmd == "write":
            data = args[1].encode()
            shm.buf[int(args[0]):int(args[0]) + len(data)] = data
            answer = "ok"
        elif cmd == "read":
            start = int(args[0])
            answer = bytes(shm.buf[start:start + int(args[1])]).decode()
        elif cmd == "digest":
            answer = digest(shm.buf)
        elif cmd == "close":
            shm.close()
            answer = "ok"
        elif cmd == "unlink":
            try:
                shm.unlink()
                answer = "ok"
            except Exception as e:
                answer = type(e).__name__
        elif cmd == "exit":
            return
        else:
            answer = "unknown command %r" % cmd
        print(answer, flush=True)


def main(argv):
    modname, mode, name, *rest = argv
    sm = shared_memory(modname)
    if mode == "create":
        shm = sm.SharedMemory(name, create=True, size=int(rest[0]))
        shm.buf[:] = hashlib.shake_128(name.encode()).digest(shm.size)
    else:
        shm = sm.SharedMemory(name)
    _serve(shm)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv[1:])
