"""Shared fixtures: every test that asks for ``mp`` runs once per implementation.

``mp`` is the module under test -- stdlib ``multiprocessing`` (id "stdlib") or ``gompx``
(id "gompx").  ``--impl`` picks ``both`` (default), ``stdlib`` or ``gompx``.  Tests marked
``gompx_only`` are parametrized with gompx alone and are skipped, with the reason, when the
run leaves gompx out.  Modules that set ``CLUSTER_VARIANT = True`` (the Pool, executor and
Queue suites) also run each such test with id "cluster": gompx with its Pool and queues on
a ``cluster="local"`` server (cluster_variant.py); ``--impl=cluster`` runs that case alone.
A test marked ``no_cluster("why")`` has its cluster case skipped with that reason.

If gompx cannot be imported, the gompx cases FAIL (in the call phase, with the import
traceback); they are never skipped.  The import is first tried in a throwaway interpreter so
that a crash inside the extension cannot take the stdlib half of the run down with it.
"""

import importlib
import os
import subprocess
import sys
import traceback

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    # Targets live in mp_targets.py; spawned children find it through the parent's sys.path.
    sys.path.insert(0, HERE)

IMPLS = ("stdlib", "gompx")
MODULE_NAME = {"stdlib": "multiprocessing", "gompx": "gompx", "cluster": "gompx"}

_gompx_error = None  # traceback text once the import of gompx has failed
_gompx_tried = False


def pytest_addoption(parser):
    parser.addoption("--impl", choices=("both", "stdlib", "gompx", "cluster"), default="both",
                     help="implementation(s) to test: both (default), stdlib, gompx (with "
                     "its cluster cases) or cluster (only those)")
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow")
    parser.addoption("--no-cluster-variant", action="store_true", default=False,
                     help="leave out the cluster cases of the Pool, executor and Queue "
                     "suites (test_cluster*.py still run); make matrix passes it, since "
                     "the cluster client is the same Go code under every CPython")


def _selected(config, cluster_variant, cluster_suite=False):
    impl = config.getoption("--impl")
    chosen = {"both": list(IMPLS), "stdlib": ["stdlib"], "gompx": ["gompx"],
              "cluster": ["gompx"] if cluster_suite else []}[impl]
    if cluster_variant and impl != "stdlib" and not config.getoption("--no-cluster-variant"):
        chosen.append("cluster")
    return chosen


def pytest_generate_tests(metafunc):
    if "mp" not in metafunc.fixturenames:
        return
    cluster_variant = getattr(metafunc.module, "CLUSTER_VARIANT", False)
    # CLUSTER_SUITE: the module tests the cluster itself (test_cluster*.py): --impl=cluster
    # runs its gompx cases.
    chosen = _selected(metafunc.config, cluster_variant,
                       getattr(metafunc.module, "CLUSTER_SUITE", False))
    if metafunc.definition.get_closest_marker("gompx_only"):
        chosen = [c for c in chosen if c != "stdlib"]
    if not chosen:
        left_out = "gompx" if metafunc.config.getoption("--impl") == "stdlib" else "stdlib"
        reason = ("gompx-only test; --impl=stdlib leaves gompx out" if left_out == "gompx"
                  else "no cluster variant in this module; --impl=cluster runs only those")
        skip = pytest.mark.skip(reason=reason)
        metafunc.parametrize("mp", [pytest.param(left_out, marks=skip)],
                             ids=[left_out], indirect=True)
        return
    metafunc.parametrize("mp", chosen, ids=chosen, indirect=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        marker = item.get_closest_marker("no_cluster")
        if marker is not None and callspec is not None and callspec.params.get("mp") == "cluster":
            item.add_marker(pytest.mark.skip(reason="not for a cluster: " + marker.args[0]))
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow test; run with --runslow")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


def _import_gompx():
    """Import gompx once; on failure remember the traceback instead of raising."""
    global _gompx_error, _gompx_tried
    if not _gompx_tried:
        _gompx_tried = True
        probe = subprocess.run([sys.executable, "-c", "import gompx"],
                               capture_output=True, text=True, timeout=120)
        if probe.returncode < 0:
            _gompx_error = ("`import gompx` killed a fresh interpreter with signal %d; "
                            "stderr:\n%s" % (-probe.returncode, probe.stderr))
            return None
        try:
            module = importlib.import_module("gompx")
        except BaseException:
            _gompx_error = traceback.format_exc()
        else:
            if getattr(module, "__file__", None) is None:
                # The Go source directory gompx/ at the repository root is importable as an
                # empty namespace package when the Python package is not installed.
                _gompx_error = ("`import gompx` found only a namespace package at %s, not the "
                                "Python package: install it (pip install .) first"
                                % list(getattr(module, "__path__", [])))
    if _gompx_error is not None:
        return None
    return sys.modules["gompx"]


class Unavailable:
    """Stands in for a module that failed to import; the test fails in its call phase."""

    def __init__(self, error):
        self.error = error

    def __getattr__(self, name):
        pytest.fail("gompx cannot be imported:\n" + self.error, pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    callspec = getattr(pyfuncitem, "callspec", None)
    if callspec is not None and callspec.params.get("mp") in ("gompx", "cluster") \
            and _import_gompx() is None:
        pytest.fail("gompx cannot be imported:\n" + _gompx_error, pytrace=False)


def _reap(module):
    """Kill whatever a (possibly failed) test left running."""
    try:
        for p in module.active_children():
            p.kill()
            p.join(5)
    except Exception:
        pass


@pytest.fixture(scope="session")
def local_cluster():
    """The session's ``cluster="local"`` server and workers (cluster_variant.py)."""
    from cluster_variant import LocalCluster
    cluster = LocalCluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def mp(request):
    """The implementation under test: stdlib ``multiprocessing``, ``gompx``, or gompx on
    a local cluster (``cluster``)."""
    if request.param == "stdlib":
        module = importlib.import_module("multiprocessing")
    else:
        module = _import_gompx()
        if module is None:
            yield Unavailable(_gompx_error)
            return
    if request.param == "cluster":
        variant = request.getfixturevalue("local_cluster").variant(module)
        yield variant
    else:
        yield module
    _reap(module)


@pytest.fixture
def impl(request, mp):
    """The implementation's id, "stdlib" or "gompx"."""
    return request.node.callspec.params["mp"]


@pytest.fixture
def modname(impl):
    """The importable module name of the implementation (passed to children)."""
    return MODULE_NAME[impl]


@pytest.fixture
def ctx(mp):
    """The spawn context -- the method both implementations share."""
    if isinstance(mp, Unavailable):
        return mp
    return mp.get_context("spawn")


@pytest.fixture
def mpconn(mp):
    """The implementation's ``connection`` submodule."""
    if isinstance(mp, Unavailable):
        return mp
    return importlib.import_module(mp.__name__ + ".connection")


@pytest.fixture(params=["default", "spawn", "forkserver"])
def anyctx(request, mp):
    """The default context (fork for stdlib on Linux, spawn for gompx), spawn, forkserver."""
    if isinstance(mp, Unavailable) or request.param == "default":
        return mp
    return mp.get_context(request.param)


@pytest.fixture
def run_script(tmp_path):
    """Run Python source as a script in a fresh interpreter; return CompletedProcess."""
    def run(source, *args, timeout=60, env_extra=None):
        path = tmp_path / "script.py"
        path.write_text(source)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH")) if p)
        if env_extra:
            env.update(env_extra)
        return subprocess.run([sys.executable, str(path), *args], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=str(tmp_path))
    return run
