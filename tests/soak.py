"""Soak: a mixed gompx workload for N minutes, with processes SIGKILLed at random.

``make soak MINUTES=N`` runs it (not in CI).  One long-lived parent runs rounds until the
time is up; each round, in turn:

- queues: producers put numbered items, each recording in shared memory how many of its
  puts have returned, while consumers take them; one producer is SIGKILLed at a random
  moment.  Every item whose put returned must arrive exactly once, with one exception
  that stdlib shares: ``put`` on an unbounded queue never waits, so when another
  producer holds the ring (or it is full) the item waits in this process's backlog for
  a goroutine to move it in, and a SIGKILL loses that backlog, as it loses what stdlib's
  feeder thread had not yet written.  So the killed producer may lose a tail of its
  puts, which is counted apart (``backlog lost``); an item missing from the middle of
  its puts, or any missing item of another producer, is a loss.  The one in flight at
  the kill arrives at most once.
- pools: ``Pool(maxtasksperchild=...)`` maps, and a task that SIGKILLs its worker must
  fail with ``WorkerLostError`` while the others complete.
- locks: children increment a shared counter under a ``Lock``; one is SIGKILLed at a
  random moment, perhaps holding the lock; the others must finish.
- managers: a child fills a managed dict (every third round; a manager is a process).
- shared memory: a child writes a segment the parent created and checks; another child
  attached to a segment is SIGKILLed; the parent unlinks both.

Every minute it samples the parent: open descriptors, memfds among them, threads (Python's
and the rest, which are the Go runtime's), the Go runtime's goroutines, child processes
(live or zombie), RSS.  It prints a row per sample and ends with a verdict: it fails (exit
status 1) on any lost or duplicated item, on any wedge (every wait is bounded), or when
descriptors, memfds, Python threads, goroutines or children grew from the first sample
after warm-up to the last, or RSS by 10 MB or more.  Warm-up is the first tenth of the
run, at least a minute: caches fill.  The Go runtime's threads are reported, not judged:
it makes one whenever more goroutines than ever before are blocked in system calls at
once, and never retires one, so its count creeps to a high-water mark that depends on
the machine's load (30-minute runs saw 14 -> 15 at minute 3, or at minute 10 on a loaded
machine), while a leak there shows in goroutines.
"""
import argparse
import gc
import os
import random
import signal
import sys
import threading
import time

import gompx
from gompx import _native, shared_memory

WAIT = 60          # bounds every wait: reaching it is a wedge
PRODUCERS, CONSUMERS, ITEMS = 4, 2, 3000
RSS_LIMIT_KB = 10 * 1024


def produce(q, done, slot, n):
    for i in range(n):
        q.put((slot, i, b"x" * (i % 300)))
        done[slot] = i + 1


def consume(q, results):
    got = []
    while True:
        item = q.get(timeout=WAIT)
        if item is None:
            break
        got.append(item[:2])
    results.put(got)


def square(x):
    return x * x


def die(_):
    os.kill(os.getpid(), signal.SIGKILL)


def count_under_lock(lock, counter, mine, slot, n):
    for _ in range(n):
        with lock:
            counter.value += 1
            mine[slot] += 1


def fill_dict(d, n):
    for i in range(n):
        d[i] = i * i


def write_segment(name, size, seed):
    shm = shared_memory.SharedMemory(name=name)
    shm.buf[:size] = bytes((i + seed) % 251 for i in range(size))
    shm.close()


def hold_segment(name):
    shm = shared_memory.SharedMemory(name=name)
    shm.buf[0] = 1
    time.sleep(WAIT)


class Soak:
    def __init__(self, ctx, rng):
        self.ctx, self.rng = ctx, rng
        self.lost = self.dup = self.kills = self.items = self.rounds = self.backlog_lost = 0
        self.errors = []

    def fail(self, what):
        self.errors.append(what)
        print("FAIL:", what, flush=True)

    def join(self, procs):
        for p in procs:
            p.join(WAIT)
            if p.is_alive():
                self.fail("process %s wedged" % p.name)
                p.kill()
                p.join()
            p.close()

    def queues(self):
        ctx = self.ctx
        q, results = ctx.Queue(), ctx.Queue()
        done = ctx.Array("q", PRODUCERS, lock=False)
        producers = [ctx.Process(target=produce, args=(q, done, s, ITEMS))
                     for s in range(PRODUCERS)]
        consumers = [ctx.Process(target=consume, args=(q, results)) for _ in range(CONSUMERS)]
        for p in producers + consumers:
            p.start()
        victim = self.rng.randrange(PRODUCERS)
        time.sleep(self.rng.uniform(0.05, 0.6))
        producers[victim].kill()
        self.kills += 1
        self.join(producers)
        for _ in consumers:
            q.put(None)
        counts = {}
        for _ in consumers:
            for item in results.get(timeout=WAIT):
                counts[item] = counts.get(item, 0) + 1
        self.join(consumers)
        for s in range(PRODUCERS):
            committed = done[s]
            self.items += committed
            missing = [i for i in range(committed) if (s, i) not in counts]
            if not missing:
                continue
            if s == victim and missing == list(range(missing[0], committed)):
                # The killed producer's backlog (see the module doc): its last puts,
                # which returned while another producer held the ring.
                self.backlog_lost += len(missing)
                continue
            self.lost += len(missing)
            self.fail("producer %d%s lost %d of its %d returned puts: %s" % (
                s, " (killed)" if s == victim else "", len(missing), committed,
                missing[:3] + ["..."] + missing[-3:] if len(missing) > 6 else missing))
        self.dup += sum(n - 1 for n in counts.values() if n > 1)
        # Nothing beyond the one put in flight at the kill.
        extra = [k for k in counts if k[1] > done[k[0]]]
        if extra:
            self.fail("items never put arrived: %s" % extra[:5])
        q.close()
        results.close()

    def pools(self):
        with self.ctx.Pool(3, maxtasksperchild=7) as pool:
            n = self.rng.randrange(100, 400)
            if pool.map(square, range(n), chunksize=3) != [x * x for x in range(n)]:
                self.fail("pool.map returned wrong results")
            self.items += n
            doomed = pool.apply_async(die, (0,))
            others = [pool.apply_async(square, (i,)) for i in range(20)]
            try:
                doomed.get(WAIT)
                self.fail("a task that killed its worker returned")
            except gompx.pool.WorkerLostError:
                self.kills += 1
            except gompx.TimeoutError:
                self.fail("a task that killed its worker wedged")
            for i, r in enumerate(others):
                if r.get(WAIT) != i * i:
                    self.fail("apply_async returned a wrong result")

    def locks(self):
        ctx = self.ctx
        lock, counter = ctx.Lock(), ctx.Value("q", 0, lock=False)
        mine = ctx.Array("q", 3, lock=False)
        procs = [ctx.Process(target=count_under_lock, args=(lock, counter, mine, s, 3000))
                 for s in range(3)]
        for p in procs:
            p.start()
        time.sleep(self.rng.uniform(0.05, 0.4))
        procs[0].kill()
        self.kills += 1
        self.join(procs)
        if not lock.acquire(timeout=WAIT):
            self.fail("the lock wedged after its holder was killed")
        else:
            lock.release()
        # The victim may die between its two increments: the counter leads by one then.
        if not sum(mine) <= counter.value <= sum(mine) + 1 or mine[1] != 3000 or mine[2] != 3000:
            self.fail("lock counts: counter %d, per process %s" % (counter.value, list(mine)))
        self.items += counter.value

    def managers(self):
        with self.ctx.Manager() as m:
            d = m.dict()
            p = self.ctx.Process(target=fill_dict, args=(d, 200))
            p.start()
            self.join([p])
            if dict(d) != {i: i * i for i in range(200)}:
                self.fail("the managed dict lost updates")
            self.items += 200

    def shared_memory(self):
        size = self.rng.randrange(1, 4 << 20)
        seed = self.rng.randrange(251)
        shm = shared_memory.SharedMemory(create=True, size=size)
        held = shared_memory.SharedMemory(create=True, size=4096)
        try:
            holder = self.ctx.Process(target=hold_segment, args=(held.name,))
            holder.start()
            p = self.ctx.Process(target=write_segment, args=(shm.name, size, seed))
            p.start()
            self.join([p])
            if bytes(shm.buf[:size]) != bytes((i + seed) % 251 for i in range(size)):
                self.fail("shared memory content wrong")
            holder.kill()
            self.kills += 1
            self.join([holder])
        finally:
            shm.close()
            shm.unlink()
            held.close()
            held.unlink()
        self.items += 1

    def round(self):
        parts = [self.queues, self.pools, self.locks, self.shared_memory]
        if self.rounds % 3 == 0:
            parts.insert(3, self.managers)
        for part in parts:
            # A part that raises (a wait that reached WAIT: a wedge) is a failure to
            # count, not the end of the run: the rest of the run says how often.
            try:
                part()
            except Exception as exc:
                self.fail("round %d, %s: %s: %s" % (self.rounds, part.__name__,
                                                    type(exc).__name__, exc))
        self.rounds += 1


def sample():
    gc.collect()  # queues and connections in reference cycles hold descriptors until then
    fds = os.listdir("/proc/self/fd")
    memfds = 0
    for fd in fds:
        try:
            memfds += os.readlink("/proc/self/fd/" + fd).startswith("/memfd:")
        except OSError:
            pass
    rss = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    me, children = str(os.getpid()), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/stat" % pid) as f:
                    children += f.read().rsplit(")", 1)[1].split()[1] == me
            except OSError:
                pass
    threads = len(os.listdir("/proc/self/task"))
    python_threads = threading.active_count()
    return {"fds": len(fds), "memfds": memfds, "threads": threads,
            "go_threads": threads - python_threads, "python_threads": python_threads,
            "children": children, "rss_kb": rss,
            "goroutines": _native.call(_native.ext.gompxcore_Goroutines)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=2)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("soak: %.1f minutes, seed %d, gompx %s" % (args.minutes, seed, gompx.__file__),
          flush=True)
    soak = Soak(gompx.get_context("spawn"), random.Random(seed))
    start = time.monotonic()
    end = start + 60 * args.minutes
    samples = []
    head = "%6s %7s %7s %6s %5s %7s %8s %9s %8s %7s %6s %6s %6s" % (
        "minute", "rounds", "items", "kills", "lost", "dup", "fds", "memfds", "threads",
        "gorout", "child", "rss_MB", "errors")
    print(head, flush=True)
    next_sample = start
    while True:
        now = time.monotonic()
        if now >= next_sample or now >= end:
            s = sample()
            s["minute"] = round((now - start) / 60)
            samples.append(s)
            print("%6d %7d %7d %6d %5d %7d %8d %9d %5d+%-2d %7d %6d %6.1f %6d" % (
                s["minute"], soak.rounds, soak.items, soak.kills, soak.lost, soak.dup, s["fds"],
                s["memfds"], s["python_threads"], s["go_threads"], s["goroutines"],
                s["children"], s["rss_kb"] / 1024, len(soak.errors)), flush=True)
            next_sample += 60
        if now >= end:
            break
        soak.round()
    return verdict(soak, samples)


def verdict(soak, samples):
    bad = list(soak.errors)
    if soak.lost or soak.dup:
        bad.append("%d lost, %d duplicated" % (soak.lost, soak.dup))
    # Warm-up: the first tenth of the run, at least a minute (see the module doc).
    warm = max(1, round(samples[-1]["minute"] / 10))
    base = next((s for s in samples if s["minute"] >= warm), samples[-1])
    last = samples[-1]
    for key in ("fds", "memfds", "python_threads", "children"):
        if last[key] > base[key]:
            bad.append("%s grew from %d to %d after warm-up" % (key, base[key], last[key]))
    # A closed object's goroutines end a moment after its close returns: a leak is a
    # count that stays up, so the least of the last three samples is judged.
    settled = min(s["goroutines"] for s in samples[-3:])
    if settled > base["goroutines"]:
        bad.append("goroutines grew from %d to %d after warm-up" % (base["goroutines"], settled))
    growth = last["rss_kb"] - base["rss_kb"]
    print("after warm-up (minute %d to %d): RSS %+.1f MB, fds %+d, memfds %+d, threads %+d "
          "(Go runtime's %+d, Python's %+d), goroutines %+d, children %+d" % (
              base["minute"], last["minute"], growth / 1024, last["fds"] - base["fds"],
              last["memfds"] - base["memfds"], last["threads"] - base["threads"],
              last["go_threads"] - base["go_threads"],
              last["python_threads"] - base["python_threads"],
              last["goroutines"] - base["goroutines"], last["children"] - base["children"]))
    if growth >= RSS_LIMIT_KB:
        bad.append("RSS grew %.1f MB after warm-up" % (growth / 1024))
    print("%d rounds, %d items checked, %d processes killed, %d lost, %d duplicated; "
          "%d in killed producers' backlogs" % (soak.rounds, soak.items, soak.kills,
                                                soak.lost, soak.dup, soak.backlog_lost))
    if bad:
        print("SOAK FAILED:\n  " + "\n  ".join(bad))
        return 1
    print("SOAK PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
