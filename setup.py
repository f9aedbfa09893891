"""Build gompx: gopy turns the Go facade pyext/gompxcore into gompx._gompxnative.

A second, small C extension, gompx._gompxsync (pyext/csrc/gompxsync.c), holds the
uncontended paths of the locks and semaphores: a gopy call costs ~0.3 us, ten times the
stdlib's whole Lock acquire + release, so those few compare-and-swaps are done in C and
everything that waits is done by the Go core.

The gopy output is a build product under build/: it is generated on every build and never
committed.  gopy and goimports are Go tools pinned in go.mod (`go tool gopy`); gopy needs
goimports on PATH and pybindgen importable by the interpreter being built for.

GOMPX_GOTAGS (comma-separated Go build tags) builds the core with them: ``make failpoints``
builds with ``GOMPX_GOTAGS=gompx_failpoints`` (see gompx/internal/failpoint).
"""

import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
FACADE = "github.com/gompx/gompx/pyext/gompxcore"
NATIVE = "gompxnative"  # gopy's -name: the extension is _gompxnative


class GopyBuildExt(build_ext):
    """Build the extension with gopy instead of compiling C sources."""

    def build_extension(self, ext):
        if ext.sources:
            # A plain C extension. Always compiled: setuptools reuses a built one whose
            # sources did not change, whatever its macros were (GOMPX_GOTAGS adds one),
            # so a failpoints build would get the last plain one, or the reverse.
            self.force = True
            return super().build_extension(ext)
        go = shutil.which(os.environ.get("GO", "go"))
        if go is None:
            raise SystemExit("gompx needs the Go toolchain (>= 1.21) on PATH to build "
                             "its core: install Go from https://go.dev/dl/ or your "
                             "distribution, then retry.")
        tag = sysconfig.get_config_var("SOABI") or "py%d%d" % sys.version_info[:2]
        # Inside the module tree: gopy runs `go build` in its output folder.
        out = os.path.join(ROOT, "build", "gopy", tag)
        tools = os.path.join(ROOT, "build", "tools")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(tools, exist_ok=True)
        env = dict(os.environ)
        env["PATH"] = tools + os.pathsep + env.get("PATH", "")
        env.setdefault("CGO_ENABLED", "1")
        tags = os.environ.get("GOMPX_GOTAGS", "").strip()
        if tags:
            env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -tags=" + tags).strip()
        self._run([go, "build", "-o", os.path.join(tools, "goimports"),
                   "golang.org/x/tools/cmd/goimports"], env)
        self._run([go, "tool", "gopy", "build", "-vm=" + sys.executable,
                   "-output=" + out, "-name=" + NATIVE, FACADE], env)
        built = os.path.join(out, "_%s%s" % (NATIVE, sysconfig.get_config_var("EXT_SUFFIX")))
        if not os.path.exists(built):
            raise SystemExit("gopy did not produce %s; see its output above" % built)
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)
        # The gompx command (cmd/gompx: `gompx server`, `gompx worker`), installed in the
        # package and put on PATH by the console script gompx._cli.
        command = os.path.join(os.path.dirname(target), "bin", "gompx")
        self._run([go, "build", "-trimpath", "-o", command, "./cmd/gompx"], env)

    @staticmethod
    def _run(cmd, env):
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)


setup(
    ext_modules=[
        Extension("gompx._gompxnative", sources=[]),
        Extension("gompx._gompxsync", sources=["pyext/csrc/gompxsync.c", "pyext/csrc/gompxqueue.c"],
                  depends=["pyext/csrc/gompxqueue.h", "pyext/csrc/gompxfailpoint.h"],
                  extra_compile_args=["-O2", "-std=gnu11", "-Wall"],
                  # The C fast paths' failpoints come with the Go core's (gompxfailpoint.h).
                  define_macros=[("GOMPX_FAILPOINTS", "1")] if "gompx_failpoints" in
                  os.environ.get("GOMPX_GOTAGS", "").replace(",", " ").split() else []),
    ],
    cmdclass={"build_ext": GopyBuildExt},
)
