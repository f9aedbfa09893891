"""Word-frequency map-reduce over Process + Pipe: gompx and stdlib multiprocessing side by side.

A coordinator generates a deterministic corpus of synthetic text (128 MiB by default, in
1 MiB chunks of whole words), starts one worker Process per CPU with a duplex Pipe each,
and streams the chunks to the workers round-robin with ``send_bytes``, keeping at most two
chunks in flight per worker. Each worker counts the words of every chunk and answers it
with ``send((sha256, words))``; at the end it sends its word counts. The coordinator
checks every chunk digest against the one computed before sending, merges the counts into
the top words, and checks that every implementation produced the same result.

The program is written for stdlib ``multiprocessing`` and runs on gompx unchanged: the
only difference between the two runs is the module passed in as ``mp``. Both use the
"spawn" start method, which gompx and stdlib share on every platform.

    python examples/demo.py                  # gompx and stdlib, interleaved, 5 runs each
    python examples/demo.py --impl stdlib    # stdlib alone (gompx not installed)
    python examples/demo.py --mib 64 --repeat 3 --workers 4

Run it with the interpreter's real path rather than a pyenv shim, which picks the
interpreter from the environment and the current directory: the first line printed names
the interpreter that ran (workers are spawned with the same one).
"""

# Spawned workers re-import this file as __mp_main__: the top level stays small, and all
# the work happens under main().
import collections
import hashlib
import os
import sys
import time

__all__ = ["make_corpus", "run_job", "word_count_worker", "main"]

CHUNK = 1 << 20   # bytes of text per chunk, roughly
WINDOW = 2        # chunks in flight per worker
TOP = 5           # words shown


def word_count_worker(conn):
    """Count the words of each chunk received; answer each with (sha256, words).

    An empty message ends the stream: the worker then sends its word counts and exits.
    """
    conn.send(("ready", os.getpid()))
    counts = collections.Counter()
    while True:
        chunk = conn.recv_bytes()
        if not chunk:
            break
        words = chunk.split()
        counts.update(words)
        conn.send((hashlib.sha256(chunk).digest(), len(words)))
    conn.send(dict(counts))
    conn.close()


def _vocabulary(seed=2024, size=4096):
    """A deterministic vocabulary and a 65536-entry table drawing its words Zipf-like."""
    import random
    rng = random.Random(seed)
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
    vocab = sorted(w.encode() for w in words)
    rng.shuffle(vocab)
    weights = [1 / (rank + 1) ** 1.05 for rank in range(size)]
    scale = 65536 / sum(weights)
    table = []
    for word, weight in zip(vocab, weights):
        table += [word] * max(1, round(weight * scale))
    table = (table + [vocab[-1]] * 65536)[:65536]
    return table


def make_corpus(mib):
    """*mib* chunks of about 1 MiB of text each, the same on every run and machine."""
    import array
    import random
    table = _vocabulary()
    per_word = sum(len(w) + 1 for w in table) / len(table)
    n_words = int(CHUNK / per_word)
    chunks = []
    for i in range(mib):
        index = array.array("H")
        index.frombytes(random.Random(i).randbytes(2 * n_words))
        if sys.byteorder == "big":
            index.byteswap()
        chunks.append(b" ".join(map(table.__getitem__, index)) + b"\n")
    return chunks


def run_job(mp, chunks, digests, workers):
    """Run the map-reduce with module *mp*; return (result, startup seconds, total seconds).

    The result is (total words, merged counts as a dict). Raises RuntimeError if a chunk
    digest comes back wrong or a worker fails.
    """
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    conns, procs = [], []
    for _ in range(workers):
        here, there = ctx.Pipe()
        # daemon: if the coordinator fails, its exit terminates the workers, not waits for them
        p = ctx.Process(target=word_count_worker, args=(there,), daemon=True)
        p.start()
        there.close()
        conns.append(here)
        procs.append(p)
    for conn in conns:
        conn.recv()  # ("ready", pid)
    startup = time.perf_counter() - t0

    pending = [collections.deque() for _ in range(workers)]
    total_words = 0

    def collect(w):
        nonlocal total_words
        j = pending[w].popleft()
        digest, n = conns[w].recv()
        if digest != digests[j]:
            raise RuntimeError(f"chunk {j}: worker {w} hashed different bytes than were sent")
        total_words += n

    for j, chunk in enumerate(chunks):
        w = j % workers
        if len(pending[w]) == WINDOW:
            collect(w)
        conns[w].send_bytes(chunk)
        pending[w].append(j)
    counts = collections.Counter()
    for w, conn in enumerate(conns):
        while pending[w]:
            collect(w)
        conn.send_bytes(b"")
        counts.update(conn.recv())
    for conn, p in zip(conns, procs):
        p.join()
        conn.close()
        if p.exitcode != 0:
            raise RuntimeError(f"worker {p.pid} exited with code {p.exitcode}")
    return (total_words, dict(counts)), startup, time.perf_counter() - t0


def _load(impl):
    if impl == "stdlib":
        import multiprocessing
        return multiprocessing
    import gompx
    return gompx


def _parse_args(argv):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impl", choices=("both", "stdlib", "gompx"), default="both",
                   help="implementations to run (default both, interleaved)")
    p.add_argument("--mib", type=int, default=128, help="corpus size in MiB (default 128)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: cpu_count())")
    p.add_argument("--repeat", type=int, default=5,
                   help="runs per implementation; the median is shown (default 5)")
    args = p.parse_args(argv)
    if min(args.mib, args.workers, args.repeat) < 1:
        p.error("--mib, --workers and --repeat must be at least 1")
    return args


def main(argv=None):
    """Run the demo as the command line asks; return the exit status."""
    import statistics
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
    chunks = make_corpus(args.mib)
    digests = [hashlib.sha256(c).digest() for c in chunks]
    size = sum(map(len, chunks))
    print(f"python   {sys.executable} ({sys.version.split()[0]})")
    print(f"corpus   {size / 2**20:.1f} MiB in {len(chunks)} chunks, generated in "
          f"{time.perf_counter() - t:.1f} s (not timed)")
    print(f"workers  {args.workers} spawn Processes, one duplex Pipe each; "
          f"{args.repeat} interleaved runs per implementation, medians shown")

    runs = {name: [] for name in impls}
    results = {}
    for _ in range(args.repeat):
        for name, mp in impls.items():
            result, startup, total = run_job(mp, chunks, digests, args.workers)
            if results.setdefault(name, result) != result:
                raise RuntimeError(f"{name} gave different results on different runs")
            runs[name].append((startup, total))
    first = results[names[0]]
    for name in names[1:]:
        if results[name] != first:
            raise RuntimeError(f"{name} and {names[0]} disagree on the word counts")

    total_words, counts = first
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    print(f"result   {total_words:,} words, {len(counts):,} distinct; top {TOP}: "
          + ", ".join(f"{w.decode()} {c:,}" for w, c in top))
    if len(names) > 1:
        print("         identical for " + " and ".join(names))
    print()

    med = {name: (statistics.median(s for s, _ in r), statistics.median(t for _, t in r))
           for name, r in runs.items()}
    base = med.get("stdlib", med[names[0]])[1]
    rows = [("implementation", "startup", "wall time", "MB/s", "speed-up")]
    for name, (startup, total) in med.items():
        rows.append((name, f"{startup * 1e3:.0f} ms", f"{total:.2f} s",
                     f"{size / 1e6 / total:.0f}", f"{base / total:.2f}x"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
