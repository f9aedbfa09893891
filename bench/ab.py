"""Before/after: one benchmark run of two gompx builds, interleaved.

Each build lives in its own interpreter (a venv with that tree installed).  The benches
named run under each, alternating (before, after, after, before, ...) for ``--repeat``
passes, each with stdlib beside gompx as usual, so machine drift hits both builds alike.
The table shows, per case, the median over the passes of each build's gompx time, the
change (before / after: above 1, the after build is faster) and each build's ratio to
stdlib measured in the same runs.  A change inside the cases' own spread is noise.

    python bench/ab.py --before /work/venv-before/bin/python --after .venv/bin/python \\
        --bench queue --bench pool [--repeat 2] [-- --rounds 3 --only apply]

Arguments after ``--`` go to every bench script (bench/_harness.py's options).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run_bench(python, bench, extra, out):
    """One run of bench/bench_<bench>.py under python; its results by case name."""
    cmd = [python, os.path.join(HERE, "bench_%s.py" % bench), "--json", out] + extra
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (status %d):\n%s" % (" ".join(cmd), proc.returncode,
                                                           proc.stdout[-2000:]))
    with open(out) as f:
        return {r["name"]: r for r in json.load(f)["results"]}


def scale(unit):
    """Seconds to the case's unit ("ns/op", "µs/msg", "ms/map", "s/..." )."""
    return {"ns": 1e9, "µs": 1e6, "ms": 1e3}.get(unit.split("/")[0], 1.0)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="interpreter with the before build")
    ap.add_argument("--after", required=True, help="interpreter with the after build")
    ap.add_argument("--bench", action="append", required=True,
                    help="bench name, e.g. queue for bench/bench_queue.py (repeatable)")
    ap.add_argument("--repeat", type=int, default=2, help="passes of each build")
    args = ap.parse_args(argv)
    builds = {"before": args.before, "after": args.after}
    runs = {b: {} for b in builds}  # build -> case -> [result, ...]
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            order = list(builds) if rep % 2 == 0 else list(reversed(list(builds)))
            for bench in args.bench:
                for build in order:
                    out = os.path.join(tmp, "%s-%s-%d.json" % (build, bench, rep))
                    print("pass %d/%d: %s under %s" % (rep + 1, args.repeat, bench, build),
                          file=sys.stderr, flush=True)
                    for name, r in run_bench(builds[build], bench, extra, out).items():
                        runs[build].setdefault(name, []).append(r)
    print("| case | unit | before (gompx) | after (gompx) | change | ratio to stdlib, "
          "before | after |")
    print("|---|---|---|---|---|---|---|")
    for name, after in runs["after"].items():
        before = runs["before"].get(name)
        if not before:
            continue  # a case the before build's run did not have

        def med(results, key):
            xs = [r[key] if key == "ratio" else r["median_seconds_per_op"]["gompx"]
                  for r in results]
            xs = [x for x in xs if x is not None]
            return statistics.median(xs) if xs else None
        b, a = med(before, "time"), med(after, "time")
        rb, ra = med(before, "ratio"), med(after, "ratio")
        unit = after[0]["unit"]
        print("| %s | %s | %.3g | %.3g | %.2fx | %s | %s |" % (
            name, unit, b * scale(unit), a * scale(unit), b / a,
            "-" if rb is None else "%.2fx" % rb, "-" if ra is None else "%.2fx" % ra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
