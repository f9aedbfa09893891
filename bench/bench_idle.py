"""CPU spent by a process blocked in a wait: gompx against stdlib, side by side.

A process blocked 2 s in a call that waits for another process should cost next to no
CPU; every spinning poll or periodic wake-up is CPU taken from the user's work.  Each
measurement runs ``_idle_targets.py`` in a fresh interpreter, which sets the case up,
blocks its main thread in the call until another process (or the task it waits for)
wakes it, and reports the CPU time of all its threads (user + system,
``time.process_time()``) from just before the call to just after it returned.  The
operation is done once without waiting before the clock starts (see
``_idle_targets.py``), so that first-use costs are not counted as waiting.

Cases (every one waits about --seconds, 2 by default):

    Queue.get, SimpleQueue.get     a get on an empty queue; another process puts
    JoinableQueue.join             join with one item out; another process gets it and
                                   calls task_done
    Connection.recv                recv on a Pipe; another process sends
    Connection.poll(t)             poll(2) on a Pipe nobody writes to: it times out
    Process.join                   join of a child that sleeps
    Event.wait                     another process sets the Event
    Lock.acquire                   another process releases the Lock this one holds
    Semaphore.acquire              another process releases a Semaphore(0)
    Condition.wait                 another process notifies
    Pool.apply, Pool.map           Pool(2) running tasks that sleep (map: one per worker)

Target (issue #14): CPU <= 2x stdlib's + 1 ms per second of waiting.  The table shows
medians (``±`` the median absolute deviation as a share of the median), the ratio
stdlib / gompx (above 1: gompx spends less), the budget the target allows, and whether
gompx's median is within it.  Rounds interleave the implementations (stdlib, gompx,
stdlib, ...), one fresh interpreter per measurement.

Run with the interpreter's real path, not a pyenv shim::

    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_idle.py --rounds 5
    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_idle.py --quick
"""

import functools
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _harness import (Case, _describe, _parse_args, describe_hogs, load_impls,  # noqa: E402
                      pin, run_cases)
from _idle_targets import CASES as _TARGETS  # noqa: E402

TARGETS = os.path.join(HERE, "_idle_targets.py")
PER_SECOND = 1e-3   # the target's allowance: 1 ms of CPU per second of waiting
TIMEOUT = 120.0     # seconds one measurement may take before the case fails


def _measure(case, mp, n):
    """CPU seconds of one fresh interpreter blocked n ms in *case* under *mp*."""
    impl = "stdlib" if mp.__name__ == "multiprocessing" else "gompx"
    out = subprocess.run([sys.executable, TARGETS, impl, case, str(n / 1000)],
                         capture_output=True, text=True, timeout=TIMEOUT)
    lines = out.stdout.splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{impl} {case}: exit code {out.returncode}\n{out.stderr}")
    report = json.loads(lines[0])
    return report["cpu"]


def _cases(seconds):
    ms = int(seconds * 1000)
    return [Case(name, "ms CPU/wait", "<= 2x stdlib + 1 ms/s", 1.0,
                 functools.partial(_measure, name), n=ms, quick_n=200)
            for name in _TARGETS]


def _budget(result, seconds):
    s = result.median("stdlib")
    return None if s is None else 2 * s + PER_SECOND * seconds


def _print_table(results, seconds, file=None):
    file = file or sys.stdout
    head = ["case", "stdlib ms", "gompx ms", "ratio", "budget ms", "met"]
    rows = []
    for res in results:
        s, g, b = res.median("stdlib"), res.median("gompx"), _budget(res, seconds)

        def cell(impl, med, res=res):
            return "-" if med is None else f"{med * 1e3:.3f} ±{res.spread(impl) * 100:.0f}%"
        ratio = res.ratio()
        met = "-" if g is None or b is None else ("yes" if g <= b else "NO")
        rows.append([res.case.name, cell("stdlib", s), cell("gompx", g),
                     "-" if ratio is None else f"{ratio:.2f}x",
                     "-" if b is None else f"{b * 1e3:.3f}", met])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def line(cells):
        return "  ".join(c.rjust(w) if 0 < i < 5 else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    print(line(head), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for r in rows:
        print(line(r), file=file)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    seconds = 2.0
    if "--seconds" in argv:  # ours, not the harness's
        i = argv.index("--seconds")
        seconds = float(argv[i + 1])
        del argv[i:i + 2]
    args = _parse_args(argv, __doc__)
    cases = _cases(seconds)
    selected = [c for c in cases if not args.only or any(o in c.name for o in args.only)]
    if not selected:
        print(f"no case matches --only {args.only}; cases: {[c.name for c in cases]}",
              file=sys.stderr)
        return 2
    try:
        impls = load_impls(args.impl)
    except ImportError as exc:
        print(f"gompx is not importable ({exc}) under {sys.executable}", file=sys.stderr)
        return 1
    if args.cpus is not None:
        pin(args.cpus)
    _describe(impls)
    print(f"rounds  {args.rounds}, each wait ~{seconds:g} s, one fresh interpreter per "
          f"measurement{' (quick: a smoke run)' if args.quick else ''}", flush=True)
    describe_hogs(args.hogs)
    results = run_cases(selected, impls, args.rounds, args.quick, hogs=args.hogs)
    # Every case waits as long: the --seconds asked for, or the quick count's.
    waited = (selected[0].quick_n if args.quick else selected[0].n) / 1000
    print()
    _print_table(results, waited)
    if args.json:
        with open(args.json, "w") as f:
            records = []
            for r in results:
                # The target is a CPU budget, not a ratio: the verdict is the budget's.
                record, budget, g = r.as_dict(), _budget(r, waited), r.median("gompx")
                record["budget_seconds"] = budget
                record["verdict"] = "-" if g is None or budget is None else (
                    "yes" if g <= budget else "NO")
                records.append(record)
            json.dump({"python": sys.executable, "version": platform.python_version(),
                       "cpus": os.cpu_count(), "seconds": waited, "rounds": args.rounds,
                       "hogs": args.hogs, "load": os.getloadavg(), "results": records}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
