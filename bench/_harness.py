"""Side-by-side benchmark harness: gompx against stdlib ``multiprocessing`` in one run.

A benchmark script describes its cases and hands them to :func:`main`::

    from _harness import Case, main

    def start_join(mp, n):          # -> seconds per operation
        ...

    CASES = [Case("spawn start+join", "ms/start", ">= stdlib", 1.0, start_join, n=40, quick_n=4)]
    if __name__ == "__main__":
        raise SystemExit(main(CASES, description=__doc__))

How a case is measured
----------------------
The machine this runs on is small and shared, so a number is only worth what its method is:

- Both implementations run in the same process and the same run, interleaved round by round
  (stdlib, gompx, stdlib, gompx, ...), so drift in machine load hits both alike.
- Each implementation does one untimed warm-up run of every case first (imports, page cache,
  a forkserver's server start), at the case's quick count.
- A case's ``run(mp, n)`` does its own set-up and tear-down and returns seconds per operation
  for the timed part only; :func:`interleave` calls it through a one-argument ``run(mp)``.
- The table shows the median of the rounds and, after ``±``, the median absolute deviation
  as a share of the median. "met" is ``yes`` when the ratio reaches the target, ``NO``
  when it misses, and ``noise`` when it misses by less than the two spreads combined: run
  again with more ``--rounds`` before believing it either way. (An A/A run of stdlib
  against itself on 2 cores gives ratios between 0.97 and 1.05, so a ">= 1.0" target can
  say ``yes`` or ``noise`` by chance.)
- ratio = stdlib median / gompx median: above 1 means gompx is faster.

Where the scheduler puts parent and child matters as much as the code on 2 cores: a stdlib
Pipe round trip takes ~15-20 µs when both share a CPU and ~60-80 µs when they sit on
different ones, and an unpinned run flips between the two. ``--cpus 0`` pins the benchmark
(every thread, so gompx's runtime threads too) and, by inheritance, its children to CPU 0,
which measures the software path without placement noise; leave it off for the realistic,
noisier picture.

Under load
----------
A user runs multiprocessing to keep every CPU busy, so a wait that spins, or a runtime
thread that wakes up, takes CPU from the user's own work. ``--hogs N`` starts N CPU-bound
busy-loop processes (plain interpreters, not multiprocessing children, free to run on every
CPU even with ``--cpus``) before the first warm-up, and kills them after the last round;
the JSON records ``"hogs": N`` and ``bench/report.py`` writes that run as the loaded
table beside the quiet one (``make bench`` runs both; ``make bench-loaded`` only the
loaded one). A hog exits by itself when the benchmark dies, so none outlives it.

Options: ``--rounds N``, ``--quick`` (tiny counts for a CI smoke run), ``--only NAME``
(substring of a case name, repeatable), ``--impl both|stdlib|gompx``, ``--json FILE``,
``--cpus LIST`` (e.g. ``0`` or ``0,1``), ``--hogs N``.
If gompx cannot be imported, the run says so and exits with status 1 unless
``--impl stdlib`` was given.
"""

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

__all__ = ["Case", "Result", "cpu_hogs", "interleave", "load_impls", "pin", "print_table",
           "main"]

IMPLS = ("stdlib", "gompx")

# Display scale for the unit's leading word: "ms/start" shows seconds times 1e3.
_SCALES = {"s": 1.0, "ms": 1e3, "us": 1e6, "µs": 1e6, "ns": 1e9}


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case.

    *name* is shown in the table and matched by ``--only``. *unit* reads as the scale of
    seconds then what one operation is, e.g. ``"ms/start"`` or ``"µs/round trip"``.
    *target* is the issue's target in words; *target_ratio* the stdlib/gompx ratio that
    meets it. *run(mp, n)* times *n* operations with the module *mp* and returns seconds
    per operation; *n* is *quick_n* under ``--quick``.
    """

    name: str
    unit: str
    target: str
    target_ratio: float
    run: Callable[..., float]
    n: int
    quick_n: int

    @property
    def scale(self) -> float:
        """Factor from seconds to the unit shown in the table."""
        head = self.unit.split("/", 1)[0].strip()
        if head not in _SCALES:
            raise ValueError(f"case {self.name!r}: unit {self.unit!r} must start with one of "
                             f"{sorted(_SCALES)}")
        return _SCALES[head]


@dataclasses.dataclass
class Result:
    """Samples (seconds per operation) of one case, per implementation, in run order."""

    case: Case
    samples: Dict[str, List[float]]

    def median(self, impl: str) -> Optional[float]:
        """Median seconds per operation of *impl*, or None if it did not run."""
        xs = self.samples.get(impl)
        return statistics.median(xs) if xs else None

    def spread(self, impl: str) -> Optional[float]:
        """Median absolute deviation of *impl* as a fraction of its median."""
        xs = self.samples.get(impl)
        if not xs:
            return None
        med = statistics.median(xs)
        return statistics.median(abs(x - med) for x in xs) / med if med else 0.0

    def ratio(self) -> Optional[float]:
        """stdlib median over gompx median (above 1: gompx is faster), or None."""
        s, g = self.median("stdlib"), self.median("gompx")
        return s / g if s and g else None

    def met(self) -> Optional[bool]:
        """Whether the ratio reaches the case's target, or None without both medians."""
        r = self.ratio()
        return None if r is None else r >= self.case.target_ratio

    def noise(self) -> Optional[float]:
        """Relative noise of the ratio: the two spreads combined, or None."""
        s, g = self.spread("stdlib"), self.spread("gompx")
        return None if s is None or g is None else (s * s + g * g) ** 0.5

    def verdict(self) -> str:
        """"yes", "NO", "noise" (missed, but by less than the noise) or "-" (no ratio)."""
        r = self.ratio()
        if r is None:
            return "-"
        if r >= self.case.target_ratio:
            return "yes"
        return "noise" if r >= self.case.target_ratio * (1 - self.noise()) else "NO"

    def as_dict(self) -> dict:
        """A JSON-ready record of this result."""
        c = self.case
        return {
            "name": c.name, "unit": c.unit, "target": c.target,
            "target_ratio": c.target_ratio,
            "seconds_per_op": {impl: xs for impl, xs in self.samples.items()},
            "median_seconds_per_op": {impl: self.median(impl) for impl in self.samples},
            "spread": {impl: self.spread(impl) for impl in self.samples},
            "ratio": self.ratio(), "met": self.met(), "noise": self.noise(),
            "verdict": self.verdict(),
        }


def load_impls(which: str) -> Dict[str, object]:
    """Import the implementations named by ``--impl``; a missing gompx raises ImportError."""
    impls = {}
    for name in IMPLS:
        if which in (name, "both"):
            impls[name] = __import__("multiprocessing" if name == "stdlib" else "gompx")
    return impls


def interleave(run: Callable[[object], float], impls: Dict[str, object], rounds: int,
               warmup: Optional[Callable[[object], float]] = None,
               progress: Callable[[str], None] = lambda s: None) -> Dict[str, List[float]]:
    """Time ``run(mp)`` for each implementation, alternating them for *rounds* rounds.

    *warmup*, if given, runs once per implementation before the first round and is not
    recorded. Returns the samples (seconds per operation) per implementation name.
    """
    if warmup is not None:
        for mp in impls.values():
            warmup(mp)
    samples: Dict[str, List[float]] = {name: [] for name in impls}
    for r in range(rounds):
        for name, mp in impls.items():
            samples[name].append(run(mp))
            progress(f"round {r + 1}/{rounds} {name}")
    return samples


def _fmt_time(result: Result, impl: str) -> str:
    med = result.median(impl)
    if med is None:
        return "-"
    value = med * result.case.scale
    digits = 3 if value < 10 else 2 if value < 100 else 1 if value < 1000 else 0
    return f"{value:.{digits}f} ±{result.spread(impl) * 100:.0f}%"


def print_table(results: List[Result], file=None) -> None:
    """Print one aligned table: medians per implementation, ratio, target and verdict."""
    file = file or sys.stdout
    head = ["case", "unit", "stdlib", "gompx", "ratio", "target", "met"]
    rows = []
    for res in results:
        ratio = res.ratio()
        rows.append([
            res.case.name, res.case.unit, _fmt_time(res, "stdlib"), _fmt_time(res, "gompx"),
            "-" if ratio is None else f"{ratio:.2f}x",
            f"{res.case.target} (>= {res.case.target_ratio:g}x)",
            res.verdict(),
        ])
    widths = [max(len(row[i]) for row in [head] + rows) for i in range(len(head))]
    right = {2, 3, 4}  # numbers align right

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(line(head), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for row in rows:
        print(line(row), file=file)


# A hog spins in pure Python on any CPU; it checks every ~50 ms that the benchmark that
# started it is still its parent, so a benchmark killed by a signal leaves no hog behind.
_HOG = """
import os, sys
os.sched_setaffinity(0, range(os.cpu_count()))
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(200000):
        pass
"""


@contextlib.contextmanager
def cpu_hogs(n: int):
    """Run *n* CPU-bound busy-loop processes for the duration of the block."""
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", _HOG, str(os.getpid())],
                                          stdin=subprocess.DEVNULL))
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def run_cases(cases, impls, rounds, quick, hogs=0):
    """A Result per case: its implementations interleaved round by round (after a warm-up
    at the quick count), with the time each case took printed as it ends; with *hogs*
    CPU-bound processes running beside every case."""
    with cpu_hogs(hogs):
        return _run_cases(cases, impls, rounds, quick)


def _run_cases(cases, impls, rounds, quick):
    results = []
    for case in cases:
        n = case.quick_n if quick else case.n
        t0 = time.perf_counter()
        samples = interleave(functools.partial(case.run, n=n), impls, rounds,
                             warmup=functools.partial(case.run, n=case.quick_n))
        results.append(Result(case, samples))
        print(f"  {case.name}: n={n}, {time.perf_counter() - t0:.1f} s", flush=True)
    return results


def _parse_args(argv, description):
    p = argparse.ArgumentParser(description=(description or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=None,
                   help="timed rounds per implementation (default 7, or 3 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="tiny counts and 3 rounds: a smoke run for CI, not a measurement")
    p.add_argument("--only", action="append", metavar="NAME", default=[],
                   help="run only cases whose name contains NAME (repeatable)")
    p.add_argument("--impl", choices=("both",) + IMPLS, default="both",
                   help="implementations to run (default both, side by side)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--cpus", metavar="LIST", default=None,
                   help="pin the benchmark and its children to these CPUs, e.g. 0 or 0,1")
    p.add_argument("--hogs", type=int, default=0, metavar="N",
                   help="run N CPU-bound busy-loop processes beside the benchmark (the "
                        "loaded table); default 0")
    args = p.parse_args(argv)
    if args.hogs < 0:
        p.error("--hogs must be 0 or more")
    if args.cpus is not None:
        try:
            args.cpus = sorted({int(c) for c in args.cpus.split(",")})
        except ValueError:
            p.error(f"--cpus wants a comma-separated list of CPU numbers, not {args.cpus!r}")
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def pin(cpus: List[int]) -> None:
    """Pin every thread of this process to *cpus*; children started later inherit it."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:  # the thread ended meanwhile
            pass


def _describe(impls) -> None:
    print(f"python  {sys.executable}  ({platform.python_implementation()} "
          f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs)")
    for name, mp in impls.items():
        print(f"{name:<7} {getattr(mp, '__file__', '?')}")


def describe_hogs(hogs: int) -> None:
    """Say in the header whether this is the loaded table, and the load before it."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load    {load} before the run; "
          + (f"{hogs} CPU hog(s) beside every case" if hogs else "no CPU hogs (quiet table)"),
          flush=True)


def main(cases: List[Case], argv=None, description: str = "") -> int:
    """Run *cases* as the command line asks, print the table; return the exit status."""
    args = _parse_args(argv, description)
    selected = [c for c in cases if not args.only or any(o in c.name for o in args.only)]
    if not selected:
        print(f"no case matches --only {args.only}; cases: {[c.name for c in cases]}",
              file=sys.stderr)
        return 2
    try:
        impls = load_impls(args.impl)
    except ImportError as exc:
        print(f"gompx is not importable ({exc}) under {sys.executable}.\n"
              f"Install it into this interpreter (pip install . at the repository root), "
              f"or pass --impl stdlib to measure stdlib multiprocessing alone.", file=sys.stderr)
        return 1
    if args.cpus is not None:
        pin(args.cpus)  # after the imports, so that threads they started are pinned too
    _describe(impls)
    if args.cpus is not None:
        print(f"pinned  CPUs {','.join(map(str, args.cpus))} (children inherit)")
    quick = " (quick counts: a smoke run, not a measurement)" if args.quick else ""
    print(f"rounds  {args.rounds}{quick}", flush=True)
    describe_hogs(args.hogs)
    results = run_cases(selected, impls, args.rounds, args.quick, hogs=args.hogs)
    print()
    print_table(results)
    if args.json:
        record = {
            "python": sys.executable, "version": platform.python_version(),
            "cpus": os.cpu_count(), "pinned": args.cpus, "rounds": args.rounds,
            "quick": args.quick, "hogs": args.hogs, "load": os.getloadavg(),
            "impls": {name: getattr(mp, "__file__", None) for name, mp in impls.items()},
            "results": [r.as_dict() for r in results],
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
    return 0
