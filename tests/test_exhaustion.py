"""Resource exhaustion: with descriptors (RLIMIT_NOFILE), address space (RLIMIT_AS) or
file size (RLIMIT_FSIZE: memory files that cannot grow) used up, every public operation
either works or raises OSError naming what ran out (its errno and message); nothing
crashes or hangs, what was made before keeps working, and everything works again once
the resource is back.

Each case runs exhaustion_child.py in a fresh interpreter, which reports every
operation's outcome as JSON before, while and after the resource is exhausted.

Not here: running out of processes (RLIMIT_NPROC). The tests run as root, and the kernel
does not apply RLIMIT_NPROC to root (nor to a user namespace's root, which is still uid
0 outside it); test_rlimit_nproc_not_enforced_for_root below checks that this is still
so, and fails when it changes, so that the case gets written then.
"""
import errno
import json
import os
import resource
import subprocess
import sys

import pytest

pytestmark = pytest.mark.gompx_only

HERE = os.path.dirname(os.path.abspath(__file__))
BOUND = 240  # seconds for the whole child: a hang fails the test

# What each resource may make an operation raise: OSError with one of these errnos.
RAN_OUT = {
    "nofile": {errno.EMFILE: "too many open files"},
    "as": {errno.ENOMEM: "cannot allocate memory"},
    "fsize": {errno.EFBIG: "file too large"},
}
# Operations that need the resource, so must fail while it is out (the others may work).
MUST_FAIL = {
    "nofile": {"queue", "pipe", "shared_memory", "shared_memory_big", "process", "pool"},
    "as": {"queue"},
    "fsize": {"queue", "shared_memory_big"},
}


def run_child(what, mp):
    del mp  # gompx alone: the child imports it
    p = subprocess.run([sys.executable, os.path.join(HERE, "exhaustion_child.py"), what],
                       capture_output=True, text=True, timeout=BOUND, cwd=HERE)
    assert p.returncode == 0, "the child died (%d): %s" % (p.returncode, p.stderr[-3000:])
    phases = {}
    for line in p.stdout.splitlines():
        d = json.loads(line)
        phases[d["phase"]] = d["results"]
    assert set(phases) == {"before", "exhausted", "after"}, p.stdout
    return phases


@pytest.mark.parametrize("what", sorted(RAN_OUT))
def test_exhaustion(mp, what):
    phases = run_child(what, mp)
    assert all(v == "ok" for v in phases["before"].values()), phases["before"]
    # Made before: keeps working while the resource is out.
    assert phases["exhausted"]["old_queue"] == "ok", phases["exhausted"]
    for op, res in phases["exhausted"].items():
        if res == "ok":
            assert op not in MUST_FAIL[what], "%s worked with %s exhausted" % (op, what)
            continue
        assert res["type"] in ("OSError", "MemoryError"), (op, res)
        if res["type"] == "OSError":
            assert res["errno"] in RAN_OUT[what], (op, res)
            assert RAN_OUT[what][res["errno"]] in res["msg"].lower(), (op, res)
    for op in MUST_FAIL[what]:
        assert phases["exhausted"][op] != "ok", op
    assert all(v == "ok" for v in phases["after"].values()), phases["after"]


def test_rlimit_nproc_not_enforced_for_root(mp):
    del mp
    if os.geteuid() != 0:
        pytest.skip("not root: a spawn-failure case belongs here (RLIMIT_NPROC works)")

    def tiny_nproc():
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))

    code = ("import os; pid = os.fork(); pid == 0 and os._exit(0); os.waitpid(pid, 0); "
            "print('forked')")
    p = subprocess.run([sys.executable, "-c", code], preexec_fn=tiny_nproc,
                       capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "forked", (
        "RLIMIT_NPROC now limits root here: write the spawn-failure case (%r)" % p.stderr)
