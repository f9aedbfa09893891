"""Write bench/README.md (and bench/ratios.svg) from the JSON of a `make bench` run.

    python bench/report.py OUT_DIR build/bench/*.json [build/bench-loaded/*.json]

A record made with ``--hogs N`` (N > 0: CPU-bound processes beside the benchmark) is the
loaded table of its benchmark and is written right after the quiet one, so each case's
quiet and loaded ratios sit one above the other; issue #14 wants no loaded ratio below 1.

Every figure in the page comes from those files (the harness's --json records), so the
tables cannot drift from what the benchmarks print.  The chart needs matplotlib (a
developer tool: `make tools` installs it); without it only the page is written.
"""

import datetime
import json
import os
import sys

UNITS = {"ms": 1e-3, "µs": 1e-6, "ns": 1e-9, "s": 1.0}


def scaled(seconds, unit):
    """A median in the case's unit ("µs/msg" -> µs)."""
    prefix = unit.split("/")[0].split()[0]  # "µs/msg" -> µs, "ms CPU/wait" -> ms
    if prefix not in UNITS:
        return "%.3g s" % seconds
    value = seconds / UNITS[prefix]
    return ("%.3g" % value) + " " + prefix


def rows(record):
    for r in record["results"]:
        med = r["median_seconds_per_op"]
        s, g = med.get("stdlib"), med.get("gompx")
        ratio = s / g if s and g else None
        # The harness's verdict: yes, NO, or noise (missed by less than the spreads).
        met = r.get("verdict", "")
        yield {"name": r["name"], "unit": r["unit"], "stdlib": s, "gompx": g,
               "ratio": ratio, "target": r.get("target", ""), "met": met}


def hogs(record):
    """CPU hogs that ran beside the benchmark (0: the quiet table)."""
    return record.get("hogs") or 0


def title(name, record):
    """The table's heading: the benchmark, whether loaded, rounds and the load before it."""
    load = record.get("load")
    extra = ", load %.2f before" % load[0] if load else ""
    if hogs(record):
        return "### %s, loaded: %d CPU hogs beside it (%s rounds%s)" % (
            name, hogs(record), record.get("rounds", "?"), extra)
    return "## %s (%s rounds%s)" % (name, record.get("rounds", "?"), extra)


def below_one(records):
    """(benchmark, case, ratio) of every loaded case slower than stdlib."""
    return [(name, r["name"], r["ratio"]) for name, record in records if hogs(record)
            for r in rows(record) if r["ratio"] is not None and r["ratio"] < 1.0]


def write_page(out_dir, records, chart):
    lines = ["# Benchmarks", "",
             "Written by `make bench` (`bench/report.py`) from the run's JSON: gompx and "
             "stdlib `multiprocessing` side by side in one process, interleaved rounds, "
             "medians; ratio = stdlib time / gompx time (above 1: gompx is faster). "
             "Targets are the issues' (\"met\": whether this run's median reached it).", ""]
    first = next((r for _, r in records if "version" in r), {})
    lines += ["Run: %s, CPython %s, %s CPUs%s." % (
        datetime.date.today().isoformat(), first.get("version", "?"), first.get("cpus", "?"),
        ", pinned to CPUs %s" % first["pinned"] if first.get("pinned") else ""), ""]
    if chart:
        lines += ["![ratios](ratios.svg)", ""]
    if any(hogs(r) for _, r in records):
        slow = below_one(records)
        lines += ["Each benchmark's quiet table is followed by its loaded one: the same cases "
                  "with CPU-bound busy-loop processes running beside them (`--hogs`). "
                  "Loaded cases below 1.0x: %s." % (
                      "; ".join("%s: %s %.2fx" % s for s in slow) if slow else "none"), ""]
    for name, record in records:
        lines += [title(name, record), "",
                  "| case | unit | stdlib | gompx | ratio | target | met |",
                  "|---|---|---|---|---|---|---|"]
        for r in rows(record):
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                r["name"], r["unit"],
                "-" if r["stdlib"] is None else scaled(r["stdlib"], r["unit"]),
                "-" if r["gompx"] is None else scaled(r["gompx"], r["unit"]),
                "-" if r["ratio"] is None else "%.2fx" % r["ratio"], r["target"], r["met"]))
        lines.append("")
    lines += ["Notes on method and on where the time goes: `bench/_harness.py`, "
              "`bench/README-queue.md`, `bench/README-managers.md`, "
              "`bench/README-pickle.md`.", ""]
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def write_chart(out_dir, records):
    try:
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (make tools installs it)",
              file=sys.stderr)
        return False
    labels, ratios = [], []
    for name, record in records:
        for r in rows(record):
            if r["ratio"] is not None:
                labels.append("%s: %s%s" % (name, r["name"], " (loaded)" if hogs(record) else ""))
                ratios.append(r["ratio"])
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(labels) + 1))
    colors = ["#2a7" if x >= 1 else "#c44" for x in ratios]
    ax.barh(range(len(labels)), ratios, color=colors)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("stdlib time / gompx time (log scale; right of 1: gompx faster)")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "ratios.svg"))
    return True


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    out_dir, files = argv[0], argv[1:]
    records = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            records.append((os.path.splitext(os.path.basename(path))[0], json.load(f)))
    records.sort(key=lambda nr: (nr[0], hogs(nr[1])))  # each quiet table, then its loaded one
    chart = write_chart(out_dir, records)
    write_page(out_dir, records, chart)


if __name__ == "__main__":
    main(sys.argv[1:])
