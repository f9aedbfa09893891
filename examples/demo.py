"""An integrity scan and three task farms over Process, Pipe, Queue and Pool: gompx and
stdlib side by side.

One coordinator starts one worker Process per CPU, each with a duplex Pipe and the two
queues, and runs three phases through the same workers:

1. Integrity scan: it streams a deterministic corpus (256 MiB by default, in 1 MiB blocks,
   each with a 16-byte header naming its index and length) to the workers with
   ``send_bytes``, a few blocks in flight per worker. A worker checks each block's header,
   computes its CRC-32 and answers ``send((index, crc))``; the coordinator checks every
   answer against the manifest it computed before timing.
2. Task farm: it sends 40,000 short web-server log lines one ``send((index, line))`` per
   job, a small window in flight per worker. A worker parses and validates its line and
   answers ``send((index, fields))``; the coordinator checks every answer against the
   parse it made before timing.
3. Queue farm: the same 40,000 lines through a shared job Queue that every worker takes
   from, answers through a shared result Queue; checked the same way.
4. Pool: the same lines once more through ``Pool.imap(parse_line, lines, chunksize=4)``
   on a Pool of as many workers (started, and warm, before the clock); checked the same way.

The coordinator multiplexes the workers with ``connection.wait``: a worker that answers
gets the next block or job. Both phases cost little compute per byte or per message, so
their time is mostly what a multiprocessing library does: moving bytes and messages
between processes. The program is written for stdlib ``multiprocessing`` and runs on gompx
unchanged; the only difference between runs is the module passed in as ``mp``. Both use
the "spawn" start method, which gompx and stdlib share on every platform.

    python examples/demo.py                  # gompx and stdlib, interleaved, 7 runs each
    python examples/demo.py --impl stdlib    # stdlib alone (gompx not installed)
    python examples/demo.py --mib 64 --jobs 10000 --repeat 3 --workers 4

Run it with the interpreter's real path rather than a pyenv shim, which picks the
interpreter from the environment and the current directory: the first line printed names
the interpreter that ran (workers are spawned with the same one).
"""

# Spawned workers re-import this file as __mp_main__: the top level stays small (constants
# and functions only), and all the work happens under main().
import os
import struct
import sys
import time
import zlib

__all__ = ["make_corpus", "make_log", "parse_line", "worker", "run_job", "main"]

BLOCK = 1 << 20                    # payload bytes per corpus block
HEADER = struct.Struct("<4sIQ")    # magic, payload length, block index
MAGIC = b"GPXB"
SCAN_WINDOW = 4                    # blocks in flight per worker
FARM_WINDOW = 8                    # jobs in flight per worker
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE"))
POOL_CHUNK = 4                     # lines per task in the Pool phase


def parse_line(line):
    """Parse one log line; return (status, bytes, latency in µs), or None if malformed.

    A line reads ``<time> <client IPv4> <method> <path> <status> <bytes> <latency>ms``.
    """
    fields = line.split(" ")
    if len(fields) != 7:
        return None
    stamp, client, method, path, status, size, latency = fields
    if len(stamp) != 24 or stamp[10] != "T" or not stamp.endswith("Z"):
        return None
    octets = client.split(".")
    if len(octets) != 4 or not all(o.isdigit() and int(o) < 256 for o in octets):
        return None
    if method not in METHODS or not path.startswith("/"):
        return None
    if not (status.isdigit() and size.isdigit() and latency.endswith("ms")):
        return None
    code = int(status)
    if not 100 <= code < 600:
        return None
    try:
        micros = round(float(latency[:-2]) * 1000)
    except ValueError:
        return None
    return code, int(size), micros


def worker(conn, jobs, results):
    """Serve the phases: blocks on *conn* until an empty message, then jobs on *conn*
    until None, then jobs from the queue *jobs* until None, answered on *results*.

    Each block is answered with ``(index, crc32)``, each job ``(index, line)`` with
    ``(index, parse_line(line))``. A block whose header does not match its length is
    answered with ``(index, None)``.
    """
    conn.send(("ready", os.getpid()))
    while True:
        block = conn.recv_bytes()
        if not block:
            break
        magic, length, index = HEADER.unpack_from(block)
        if magic != MAGIC or length != len(block) - HEADER.size:
            conn.send((index, None))
        else:
            conn.send((index, zlib.crc32(block)))
    while True:
        job = conn.recv()
        if job is None:
            break
        index, line = job
        conn.send((index, parse_line(line)))
    conn.close()
    while True:
        job = jobs.get()
        if job is None:
            break
        index, line = job
        results.put((index, parse_line(line)))


def make_corpus(mib):
    """*mib* blocks of a 16-byte header and 1 MiB of pseudo-random bytes, the same everywhere."""
    import random
    return [HEADER.pack(MAGIC, BLOCK, i) + random.Random(i).randbytes(BLOCK)
            for i in range(mib)]


def make_log(n):
    """*n* web-server log lines, about 1% of them malformed, the same on every run."""
    import random
    rng = random.Random(2024)
    paths = ["/", "/index.html", "/static/app.js", "/api/v1/items", "/api/v1/users",
             "/api/v1/search", "/healthz", "/login"]
    methods = ["GET"] * 12 + ["POST"] * 3 + ["HEAD", "PUT", "DELETE"]
    statuses = [200] * 40 + [204, 301, 302, 304] * 2 + [400, 401, 403, 404, 404, 500, 503]
    lines = []
    for i in range(n):
        sec = 1714521600 + i // 20
        stamp = (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
                 + f".{rng.randrange(1000):03d}Z")
        client = "10.%d.%d.%d" % (rng.randrange(4), rng.randrange(256), rng.randrange(1, 255))
        path = rng.choice(paths)
        if path.startswith("/api") and rng.random() < 0.7:
            path += f"/{rng.randrange(100000)}"
        size = str(rng.randrange(50000))
        if rng.random() < 0.01:  # damage: a bad address, a size in kB, or truncation
            damage = rng.randrange(3)
            client += ".1" if damage == 0 else ""
            size += "k" if damage == 1 else ""
        else:
            damage = None
        line = (f"{stamp} {client} {rng.choice(methods)} {path} {rng.choice(statuses)} "
                f"{size} {rng.expovariate(1 / 20):.1f}ms")
        if damage == 2:
            line = line[:rng.randrange(10, len(line))]
        lines.append(line)
    return lines


def _dispatch(wait, conns, items, window, send, check):
    """Keep *window* items in flight per connection until every item has been answered.

    *wait* is the implementation's ``connection.wait``; ``send(conn, i)`` sends item *i*
    and ``check(conn.recv())`` verifies one answer.
    """
    todo = iter(range(items))
    in_flight = {}
    for conn in conns:
        in_flight[conn] = 0
        for i in todo:
            send(conn, i)
            in_flight[conn] += 1
            if in_flight[conn] == window:
                break
    busy = [c for c in conns if in_flight[c]]
    while busy:
        for conn in wait(busy):
            try:
                answer = conn.recv()
            except EOFError:
                raise RuntimeError("a worker exited in the middle of the job") from None
            check(answer)
            i = next(todo, None)
            if i is None:
                in_flight[conn] -= 1
            else:
                send(conn, i)
        busy = [c for c in busy if in_flight[c]]


def _answer_checker(expected, what):
    """Return (check, answers): check verifies one (index, value) answer and records it."""
    answers = [None] * len(expected)
    seen = bytearray(len(expected))

    def check(answer):
        index, value = answer
        if not 0 <= index < len(expected) or seen[index]:
            raise RuntimeError(f"{what} {index}: unexpected or duplicate answer")
        if value != expected[index]:
            raise RuntimeError(f"{what} {index}: worker answered {value!r}, "
                               f"expected {expected[index]!r}")
        seen[index] = 1
        answers[index] = value

    return check, answers


def run_job(mp, corpus, crcs, lines, parsed, workers):
    """Run every phase with module *mp*.

    Returns (answers, timings): the answers are (block CRCs, parsed lines, parsed lines
    from the queue farm, parsed lines from the Pool) as the workers gave them; timings are
    the seconds for startup, the scan, the farm, the queue farm and the Pool phase.
    Raises RuntimeError if an answer is wrong or missing, or a worker fails.
    """
    wait = mp.connection.wait
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    conns, procs = [], []
    jobs, results = ctx.Queue(), ctx.Queue()
    for _ in range(workers):
        here, there = ctx.Pipe()
        # daemon: if the coordinator fails, its exit terminates the workers, not waits for them
        p = ctx.Process(target=worker, args=(there, jobs, results), daemon=True)
        p.start()
        there.close()
        conns.append(here)
        procs.append(p)
    for conn in conns:
        conn.recv()  # ("ready", pid)
    t1 = time.perf_counter()

    check_block, block_answers = _answer_checker(crcs, "block")
    _dispatch(wait, conns, len(corpus), SCAN_WINDOW,
              lambda conn, i: conn.send_bytes(corpus[i]), check_block)
    t2 = time.perf_counter()

    for conn in conns:
        conn.send_bytes(b"")  # end of the scan
    check_line, line_answers = _answer_checker(parsed, "line")
    _dispatch(wait, conns, len(lines), FARM_WINDOW,
              lambda conn, i: conn.send((i, lines[i])), check_line)
    t3 = time.perf_counter()

    for conn in conns:
        conn.send(None)
    check_queued, queued_answers = _answer_checker(parsed, "queued line")
    for i, line in enumerate(lines):
        jobs.put((i, line))
    for _ in procs:
        jobs.put(None)
    for _ in lines:
        check_queued(results.get(timeout=60))
    t4 = time.perf_counter()

    for conn, p in zip(conns, procs):
        p.join()
        conn.close()
        if p.exitcode != 0:
            raise RuntimeError(f"worker {p.pid} exited with code {p.exitcode}")

    with ctx.Pool(workers) as pool:
        pool.map(abs, range(workers * 4), chunksize=1)  # every worker started and warm
        t5 = time.perf_counter()
        pooled_answers = list(pool.imap(parse_line, lines, chunksize=POOL_CHUNK))
        t6 = time.perf_counter()
    if pooled_answers != parsed:
        raise RuntimeError("the Pool phase gave wrong answers")
    return ((block_answers, line_answers, queued_answers, pooled_answers),
            (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t6 - t5))


def _load(impl):
    if impl == "stdlib":
        import multiprocessing
        import multiprocessing.connection
        return multiprocessing
    import gompx
    import gompx.connection
    return gompx


def _parse_args(argv):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impl", choices=("both", "stdlib", "gompx"), default="both",
                   help="implementations to run (default both, interleaved)")
    p.add_argument("--mib", type=int, default=256,
                   help="integrity-scan corpus size in MiB (default 256)")
    p.add_argument("--jobs", type=int, default=40000,
                   help="task-farm log lines, one message each (default 40000)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: cpu_count())")
    p.add_argument("--repeat", type=int, default=7,
                   help="runs per implementation; the median is shown (default 7)")
    args = p.parse_args(argv)
    if min(args.mib, args.jobs, args.workers, args.repeat) < 1:
        p.error("--mib, --jobs, --workers and --repeat must be at least 1")
    return args


def _table(title, rows):
    print(title)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print()


def _report(names, runs, size, jobs, workers):
    """Print one table per phase from the medians of *runs*."""
    import statistics
    med = {name: [statistics.median(r[k] for r in runs[name]) for k in range(5)]
           for name in names}
    base = med.get("stdlib", med[names[0]])
    _table(f"startup: {workers} spawn workers started and ready",
           [("implementation", "time", "speed-up")]
           + [(n, f"{med[n][0] * 1e3:.0f} ms", f"{base[0] / med[n][0]:.2f}x") for n in names])
    _table(f"integrity scan: {size / 2**20:.0f} MiB in 1 MiB blocks, send_bytes, "
           f"{SCAN_WINDOW} in flight per worker",
           [("implementation", "wall time", "MB/s", "speed-up")]
           + [(n, f"{med[n][1] * 1e3:.0f} ms", f"{size / 1e6 / med[n][1]:,.0f}",
               f"{base[1] / med[n][1]:.2f}x") for n in names])
    _table(f"task farm: {jobs:,} log lines, one send() per job, "
           f"{FARM_WINDOW} in flight per worker",
           [("implementation", "wall time", "jobs/s", "speed-up")]
           + [(n, f"{med[n][2] * 1e3:.0f} ms", f"{jobs / med[n][2]:,.0f}",
               f"{base[2] / med[n][2]:.2f}x") for n in names])
    _table(f"queue farm: {jobs:,} log lines through a shared job Queue, answers through "
           f"a shared result Queue",
           [("implementation", "wall time", "jobs/s", "speed-up")]
           + [(n, f"{med[n][3] * 1e3:.0f} ms", f"{jobs / med[n][3]:,.0f}",
               f"{base[3] / med[n][3]:.2f}x") for n in names])
    _table(f"pool: {jobs:,} log lines through Pool.imap(parse_line, lines, "
           f"chunksize={POOL_CHUNK}) on {workers} workers",
           [("implementation", "wall time", "lines/s", "speed-up")]
           + [(n, f"{med[n][4] * 1e3:.0f} ms", f"{jobs / med[n][4]:,.0f}",
               f"{base[4] / med[n][4]:.2f}x") for n in names])


def main(argv=None):
    """Run the demo as the command line asks; return the exit status."""
    args = _parse_args(argv)
    names = ["stdlib", "gompx"] if args.impl == "both" else [args.impl]
    try:
        impls = {name: _load(name) for name in names}
    except ImportError as exc:
        print(f"gompx is not importable ({exc}) under {sys.executable}.\n"
              "Install it (pip install . at the repository root) or run with --impl stdlib.",
              file=sys.stderr)
        return 1

    t = time.perf_counter()
    corpus = make_corpus(args.mib)
    crcs = [zlib.crc32(block) for block in corpus]
    lines = make_log(args.jobs)
    parsed = [parse_line(line) for line in lines]
    size = sum(map(len, corpus))
    print(f"python   {sys.executable} ({sys.version.split()[0]})")
    print(f"input    {size / 2**20:.1f} MiB corpus in {len(corpus)} blocks and "
          f"{len(lines):,} log lines, made in {time.perf_counter() - t:.1f} s (not timed)")
    print(f"workers  {args.workers} spawn Processes, one duplex Pipe each, two shared Queues, "
          f"then a Pool of {args.workers}; "
          f"{args.repeat} interleaved runs per implementation, medians shown")

    runs = {name: [] for name in names}
    answers = {}
    for _ in range(args.repeat):
        for name, mp in impls.items():
            answer, timings = run_job(mp, corpus, crcs, lines, parsed, args.workers)
            if answers.setdefault(name, answer) != answer:
                raise RuntimeError(f"{name} gave different answers on different runs")
            runs[name].append(timings)
    for name in names[1:]:
        if answers[name] != answers[names[0]]:
            raise RuntimeError(f"{name} and {names[0]} disagree on the answers")

    valid = [p for p in parsed if p is not None]
    errors = sum(1 for code, _, _ in valid if code >= 500)
    print(f"result   {len(corpus)} block CRCs verified; {len(valid):,} of {len(lines):,} "
          f"lines valid, {errors:,} server errors, "
          f"{sum(s for _, s, _ in valid) / 1e6:.1f} MB served")
    if len(names) > 1:
        print("         identical for " + " and ".join(names))
    print()
    _report(names, runs, size, len(lines), args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
