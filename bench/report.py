"""Write bench/README.md (and bench/ratios.svg) from the JSON of a `make bench` run.

    python bench/report.py OUT_DIR build/bench/*.json

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
    for name, record in records:
        lines += ["## %s (%s rounds)" % (name, record.get("rounds", "?")), "",
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
                labels.append("%s: %s" % (name, r["name"]))
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
    for path in sorted(files):
        with open(path, encoding="utf-8") as f:
            records.append((os.path.splitext(os.path.basename(path))[0], json.load(f)))
    chart = write_chart(out_dir, records)
    write_page(out_dir, records, chart)


if __name__ == "__main__":
    main(sys.argv[1:])
