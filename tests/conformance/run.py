"""Run CPython's own multiprocessing test suite against gompx (or stdlib), test by test.

    run.py [--python PY] [--method spawn|forkserver] [--impl gompx|stdlib]
           [--suite multiprocessing|futures] [--timeout S] [--record] [-k SUBSTRING]

The interpreter's own ``test._test_multiprocessing`` (each CPython version has its own)
runs in a worker interpreter: under ``python -m gompx`` for ``--impl gompx``, so that
``multiprocessing`` is gompx in the worker and in every child it starts, with no shim of
any kind; as is for ``--impl stdlib``.  ``--suite futures`` runs the process-pool tests of
the interpreter's ``test_concurrent_futures`` the same way.

Every test gets a time limit: a test that exceeds it is reported as hung (its stack is
printed), the worker is replaced and the run goes on with the next test; a test that
kills the worker is reported as a crash, likewise.

The outcome is checked against ``expected/``: for each version, suite and start method,
the tests stdlib passes (``--impl stdlib --record`` writes that file) and, in
``known_failures.txt``, each test stdlib passes and gompx does not, with its reason.
The run fails when a test stdlib passes fails under gompx without being listed (a
regression), and when a listed test passes (the list must stay true).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "expected")
KNOWN_FAILURES = os.path.join(HERE, "known_failures.txt")
PASSING = ("pass",)


def main():
    args = _parse_args()
    if os.sep in args.python:
        args.python = os.path.abspath(args.python)  # workers run in this folder
    if args.inner:
        return _inner(args)
    version = subprocess.run(
        [args.python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        check=True, capture_output=True, text=True).stdout.strip()
    label = "%s %s %s (%s)" % (args.suite, version, args.method, args.impl)
    started = time.monotonic()
    outcomes = _run_all(args)
    elapsed = time.monotonic() - started
    _print_outcomes(outcomes, label, elapsed, args.verbose)
    baseline_path = os.path.join(EXPECTED, "%s-%s-%s.txt" % (args.suite, version, args.method))
    if args.record:
        _record_baseline(baseline_path, outcomes, label)
        return 0
    if args.k:
        ok = all(o["outcome"] in PASSING + ("skip", "xfail") for o in outcomes.values())
        return 0 if ok else 1
    if not os.path.exists(baseline_path):
        print("no baseline %s: run with --impl stdlib --record first" % baseline_path)
        return 1
    _rerun_failures(args, outcomes, baseline_path, version)
    return _check(outcomes, baseline_path, version, args, label)


def _parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--method", default="spawn", choices=("spawn", "forkserver"))
    p.add_argument("--impl", default="gompx", choices=("gompx", "stdlib"))
    p.add_argument("--suite", default="multiprocessing", choices=("multiprocessing", "futures"))
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a test may take")
    p.add_argument("--record", action="store_true",
                   help="write the tests that passed as the baseline (run with --impl stdlib)")
    p.add_argument("-k", action="append", help="run only tests whose id contains this")
    p.add_argument("-v", "--verbose", action="store_true", help="print every test's outcome")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--results", help=argparse.SUPPRESS)
    p.add_argument("--only", help=argparse.SUPPRESS)
    return p.parse_args()


# -- the outer runner: workers, hangs and crashes -------------------------------------

def _read_baseline(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def _rerun_failures(args, outcomes, baseline_path, version):
    """Run once more, each in a fresh worker, the tests stdlib passes that failed and
    are not known failures (as CPython's own test runner does with --rerun).  A test
    that passes then counts as passed and is reported as FLAKY, with its first outcome."""
    known = load_known_failures(version, args.suite, args.method)
    failed = [t for t in _read_baseline(baseline_path)
              if t in outcomes and outcomes[t]["outcome"] not in PASSING and t not in known]
    if not failed:
        return
    print("re-running %d failed tests: %s" % (len(failed), " ".join(failed)), flush=True)
    for test in failed:
        again = _run_all(args, [test]).get(test)
        if again is not None and again["outcome"] in PASSING:
            print("FLAKY %s: %s at first, passed when run again"
                  % (test, outcomes[test]["outcome"]), flush=True)
            outcomes[test] = {"outcome": "pass",
                              "detail": "passed when run again (first: %s)"
                              % outcomes[test]["outcome"]}


def _run_all(args, only_tests=None):
    """Run the selected tests (*only_tests*, or all) in as many workers as hangs and
    crashes need."""
    outcomes = {}
    remaining = only_tests  # None: every test the worker finds
    with tempfile.TemporaryDirectory(prefix="gompx-conformance-") as tmp:
        while True:
            results = os.path.join(tmp, "results-%d.jsonl" % len(os.listdir(tmp)))
            only = None
            if remaining is not None:
                only = os.path.join(tmp, "only-%d.json" % len(os.listdir(tmp)))
                with open(only, "w") as f:
                    json.dump(remaining, f)
            code = _run_worker(args, results, only)
            listed, started, finished = _read_results(results)
            outcomes.update(finished)
            if remaining is None:
                if not listed:
                    raise SystemExit("the test worker exited with code %s before it listed "
                                     "any test: the suite does not import (see above)" % code)
                remaining = listed
            unfinished = [t for t in remaining if t not in outcomes]
            if not unfinished:
                return outcomes
            if started is None or started in outcomes:
                # The worker died between tests (or before the first): nothing to blame.
                outcomes.update({t: {"outcome": "crash", "detail":
                                     "the test worker exited with code %s before this "
                                     "test ran" % code} for t in unfinished})
                return outcomes
            hung = os.path.exists(results + ".stacks") and os.path.getsize(results + ".stacks") > 0
            if hung:
                with open(results + ".stacks") as f:
                    print(f.read(), flush=True)
            outcomes[started] = {"outcome": "hang" if hung else "crash", "detail": (
                "no result within %gs; stacks are in the log above" % args.timeout if hung
                else "the test worker exited with code %s during this test" % code)}
            print("%s: %s" % (started, outcomes[started]["detail"]), flush=True)
            remaining = [t for t in remaining if t not in outcomes]


def _run_worker(args, results, only):
    cmd = [args.python]
    if args.impl == "gompx":
        cmd += ["-m", "gompx"]
    cmd += [os.path.abspath(__file__), "--inner", "--results", results,
            "--method", args.method, "--suite", args.suite, "--timeout", str(args.timeout)]
    if only:
        cmd += ["--only", only]
    for k in args.k or ():
        cmd += ["-k", k]
    env = dict(os.environ, GOMPX_SUITE_METHOD=args.method)
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run(cmd, env=env, cwd=HERE).returncode


def _read_results(path):
    listed, started, finished = [], None, {}
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return listed, started, finished
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut short by the worker's death
        if rec["kind"] == "list":
            listed = rec["tests"]
        elif rec["kind"] == "start":
            started = rec["test"]
        elif rec["kind"] == "end":
            finished[rec["test"]] = {"outcome": rec["outcome"], "detail": rec["detail"]}
    return listed, started, finished


# -- the worker: one interpreter running tests in order --------------------------------

def _inner(args):
    import faulthandler
    import signal
    # Started in the background by a shell, the worker inherits SIGINT ignored; the
    # suite sends SIGINT and expects KeyboardInterrupt, as in an interactive run.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, HERE)
    module = _load_suite(args.suite, args.method)
    tests = list(_flatten(unittest.defaultTestLoader.loadTestsFromModule(module)))
    ids = [_short_id(t) for t in tests]
    if args.k:
        tests = [t for t, i in zip(tests, ids) if any(k in i for k in args.k)]
    if args.only:
        with open(args.only) as f:
            wanted = set(json.load(f))
        tests = [t for t in tests if _short_id(t) in wanted]
    out = open(args.results, "a", buffering=1)
    out.write(json.dumps({"kind": "list", "tests": [_short_id(t) for t in tests]}) + "\n")
    # faulthandler writes the stacks of a hung test here (and nothing otherwise): it is
    # how the outer runner tells a hang from a crash.
    stacks = open(args.results + ".stacks", "w")
    result = _RecordingResult(out, args.timeout, stacks)
    try:
        unittest.TestSuite(tests).run(result)
    finally:
        faulthandler.cancel_dump_traceback_later()
    out.close()
    sys.stdout.flush()
    # Stop here: what a suite leaves running (or a hung atexit hook) is not a test result.
    os._exit(0)


def _load_suite(suite, method):
    import importlib
    if suite == "multiprocessing":
        return importlib.import_module("cpython_suite")
    return importlib.import_module("cpython_futures_suite")


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


def _short_id(test):
    """The test's id without the module: ``Class.test_name``."""
    return test.id().split(".", 1)[1] if "." in test.id() else test.id()


class _RecordingResult(unittest.TestResult):
    """Writes each test's start and outcome as it happens, and arms the hang limit."""

    def __init__(self, out, timeout, stacks):
        super().__init__()
        self._out = out
        self._stacks = stacks
        self._timeout = timeout
        self._outcome = None

    def _write(self, **rec):
        self._out.write(json.dumps(rec) + "\n")
        self._out.flush()

    def startTest(self, test):
        import faulthandler
        super().startTest(test)
        self._outcome = ("pass", "")
        self._write(kind="start", test=_short_id(test))
        print("%s ..." % _short_id(test), flush=True)
        faulthandler.dump_traceback_later(self._timeout, exit=True, file=self._stacks)

    def stopTest(self, test):
        import faulthandler
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)
        outcome, detail = self._outcome
        self._write(kind="end", test=_short_id(test), outcome=outcome, detail=detail)
        print("    %s %s" % (outcome, detail.strip().splitlines()[-1] if detail else ""),
              flush=True)

    def _set(self, outcome, detail):
        # The first failure decides (a test that failed and then errored in tearDown
        # failed); a later sub-test failure cannot turn a failure back into a pass.
        if self._outcome is None or self._outcome[0] in ("pass", "skip"):
            self._outcome = (outcome, detail)

    def addError(self, test, err):
        super().addError(test, err)
        if isinstance(test, unittest.suite._ErrorHolder):
            # setUpClass/setUpModule: the tests it guards will not run; blame the fixture.
            self._write(kind="end", test=str(test), outcome="error",
                        detail=self._exc_info_to_string(err, test))
            return
        self._set("error", self._exc_info_to_string(err, test))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set("fail", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._set("skip", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._set("xfail", "")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set("xpass", "")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._set("fail" if failed else "error", self._exc_info_to_string(err, test))


# -- reporting and the expectations -----------------------------------------------------

def _print_outcomes(outcomes, label, elapsed, verbose):
    counts = {}
    for name, o in sorted(outcomes.items()):
        counts[o["outcome"]] = counts.get(o["outcome"], 0) + 1
        if verbose or o["outcome"] not in PASSING + ("skip", "xfail"):
            last = o["detail"].strip().splitlines()[-1] if o["detail"].strip() else ""
            print("%-7s %s  %s" % (o["outcome"], name, last[:150]))
    print("%s: %d tests in %.0fs: %s" % (label, len(outcomes), elapsed, ", ".join(
        "%d %s" % (n, k) for k, n in sorted(counts.items()))), flush=True)


def _record_baseline(path, outcomes, label):
    passed = sorted(t for t, o in outcomes.items() if o["outcome"] in PASSING)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("# The tests stdlib passes: %s, %s.\n"
                "# Written by: tests/conformance/run.py --impl stdlib --record\n"
                % (label.replace(" (stdlib)", ""), time.strftime("%Y-%m-%d")))
        f.writelines(t + "\n" for t in passed)
    print("wrote %s (%d tests)" % (path, len(passed)))


def load_known_failures(version, suite, method):
    """{test id: reason} for this version, suite and start method.

    Each line of known_failures.txt is ``TEST_ID [WHERE...] -- REASON``; WHERE narrows a
    line to suites, versions and start methods (``futures``, ``3.13``, ``forkserver``):
    a line applies when every word it names matches this run."""
    known = {}
    with open(KNOWN_FAILURES) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            head, sep, reason = line.partition(" -- ")
            if not sep or not reason.strip():
                raise SystemExit("%s:%d: no ' -- reason'" % (KNOWN_FAILURES, lineno))
            test, *where = head.split()
            here = {"suite": suite, "version": version, "method": method}
            kinds = {"multiprocessing": "suite", "futures": "suite", "spawn": "method",
                     "forkserver": "method"}
            if all(here[kinds.get(w, "version")] == w for w in where):
                known[test] = reason.strip()
    return known


def _check(outcomes, baseline_path, version, args, label):
    stdlib_passes = _read_baseline(baseline_path)
    known = load_known_failures(version, args.suite, args.method)
    passed = [t for t in stdlib_passes if outcomes.get(t, {}).get("outcome") in PASSING]
    regressions = [t for t in stdlib_passes if t not in passed and t not in known]
    fixed = [t for t in known if t in passed]
    missing = [t for t in stdlib_passes if t not in outcomes]
    print("%s: %d of the %d tests stdlib passes pass; %d known failures"
          % (label, len(passed), len(stdlib_passes), len(known)))
    for t in regressions:
        o = outcomes.get(t, {"outcome": "missing", "detail": ""})
        print("REGRESSION %s: %s" % (t, o["outcome"]))
    for t in fixed:
        print("NOW PASSES (remove it from known_failures.txt) %s" % t)
    if missing:
        print("(%d baseline tests did not run)" % len(missing))
    summary = {"suite": args.suite, "version": version, "method": args.method,
               "passed": len(passed), "stdlib_passed": len(stdlib_passes)}
    print("CONFORMANCE " + json.dumps(summary))
    return 1 if regressions or fixed else 0


if __name__ == "__main__":
    sys.exit(main())
