"""Starting a fresh interpreter as a child: the command line, the preparation data, and
the child's entry point.

Laid out like CPython's ``multiprocessing/spawn.py``.  The child gets its bootstrap on
file descriptor 3: two pickles, the preparation data (sys.path, cwd, authkey, name, how to
re-import the main module as ``__mp_main__``) then the Process object.  The descriptors the
parent passes along follow from fd 4 on.
"""

import os
import sys
import types

from . import _alias
from . import process

__all__ = ["get_executable", "set_executable", "get_command_line", "get_preparation_data",
           "prepare", "spawn_main", "import_main_path"]

BOOTSTRAP_FD = 3
FIRST_PASSED_FD = 4

_python_exe = sys.executable


def set_executable(exe):
    global _python_exe
    _python_exe = os.fsdecode(exe) if exe is not None else None


# Windows frozen executables and services: never, on the platforms gompx runs on.
WINEXE = False
WINSERVICE = False


def get_executable():
    return _python_exe


def _args_from_interpreter_flags():
    """The interpreter options of this process that a child should share."""
    flags = sys.flags
    args = []
    for opt, name in (("-d", "debug"), ("-B", "dont_write_bytecode"), ("-S", "no_site"),
                      ("-v", "verbose"), ("-b", "bytes_warning"), ("-q", "quiet"),
                      ("-O", "optimize")):
        args.extend([opt] * getattr(flags, name, 0))
    if getattr(flags, "isolated", 0):
        args.append("-I")
    else:
        if flags.ignore_environment:
            args.append("-E")
        if flags.no_user_site:
            args.append("-s")
        if getattr(flags, "safe_path", False):
            args.append("-P")
    for opt in sys.warnoptions:
        args.append("-W" + opt)
    for key, value in getattr(sys, "_xoptions", {}).items():
        args.append("-X" + (key if value is True else "%s=%s" % (key, value)))
    return args


def get_command_line(**kwds):
    """The command line of a spawned child."""
    return [_python_exe] + _args_from_interpreter_flags() + [
        "-c", child_program("from gompx.spawn import spawn_main; spawn_main()"),
        "--gompx-child"]


def child_program(statement):
    """A ``-c`` program that runs *statement* with this process's gompx importable.

    The child shares this interpreter's flags, and with -S, -E or -I it may not find
    gompx where this process did (site-packages, PYTHONPATH): the folder gompx was
    imported from goes first on its path until ``prepare`` gives it this process's
    sys.path, so the child runs the very gompx its parent does."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return "import sys; sys.path.insert(0, %r); %s" % (package_parent, statement)


def _check_not_importing_main():
    if getattr(process.current_process(), "_inheriting", False):
        raise RuntimeError("""
        An attempt has been made to start a new process before the
        current process has finished its bootstrapping phase.

        This probably means that you are not using fork to start your
        child processes and you have forgotten to use the proper idiom
        in the main module:

            if __name__ == '__main__':
                freeze_support()
                ...

        The "freeze_support()" line can be omitted if the program
        is not going to be frozen to produce an executable.

        To fix this issue, refer to the "Safe importing of main module"
        section in https://docs.python.org/3/library/multiprocessing.html
        """)


def get_preparation_data(name):
    """What a child needs to look like its parent before the Process object is unpickled."""
    _check_not_importing_main()
    d = dict(
        log_to_stderr=_log_to_stderr(),
        authkey=bytes(process.current_process().authkey),
        name=name,
        sys_path=sys.path,
        sys_argv=sys.argv,
        orig_dir=process.ORIGINAL_DIR,
        dir=os.getcwd(),
        start_method=_start_method(),
        serve_multiprocessing=_alias.installed(),
    )
    from . import util
    if util._logger is not None:
        d["log_level"] = util._logger.getEffectiveLevel()
    tracker_fd = _running_tracker_fd()
    if tracker_fd is not None:
        from . import reduction
        d["resource_tracker_fd"] = reduction.DupFd(tracker_fd)
    main_module = sys.modules["__main__"]
    main_mod_name = getattr(getattr(main_module, "__spec__", None), "name", None)
    if main_mod_name is not None:
        d["init_main_from_name"] = main_mod_name
    else:
        main_path = getattr(main_module, "__file__", None)
        if main_path is not None:
            if not os.path.isabs(main_path) and process.ORIGINAL_DIR is not None:
                main_path = os.path.join(process.ORIGINAL_DIR, main_path)
            d["init_main_from_path"] = os.path.normpath(main_path)
    return d


def _running_tracker_fd():
    """The resource tracker's pipe, if this process has a tracker: a child shares it
    (as in CPython) rather than starting its own.  gompx starts no tracker for its own
    resources, so most programs never have one."""
    tracker = sys.modules.get("gompx.resource_tracker")
    return None if tracker is None else tracker._resource_tracker._fd


def _log_to_stderr():
    from . import util
    return util._log_to_stderr


def _start_method():
    from .context import _default_context
    return _default_context.get_start_method(allow_none=True)


def prepare(data):
    """Make this child look like its parent: name, authkey, paths, cwd, main module."""
    if data.get("serve_multiprocessing"):
        _alias.install()
    if "name" in data:
        process.current_process().name = data["name"]
    if "authkey" in data:
        process.current_process().authkey = data["authkey"]
    if data.get("log_to_stderr"):
        from . import util
        util.log_to_stderr()
    if "log_level" in data:
        from . import util
        util.get_logger().setLevel(data["log_level"])
    if "resource_tracker_fd" in data:
        from . import resource_tracker
        resource_tracker._resource_tracker._fd = data["resource_tracker_fd"].detach()
    if "sys_path" in data:
        sys.path = data["sys_path"]
    if "sys_argv" in data:
        sys.argv = data["sys_argv"]
    if "dir" in data:
        os.chdir(data["dir"])
    if "orig_dir" in data:
        process.ORIGINAL_DIR = data["orig_dir"]
    if data.get("start_method") is not None:
        from .context import _default_context
        _default_context.set_start_method(data["start_method"], force=True)
    if "init_main_from_name" in data:
        _fixup_main_from_name(data["init_main_from_name"])
    elif "init_main_from_path" in data:
        _fixup_main_from_path(data["init_main_from_path"])


# The parent's __main__ runs again in the child as __mp_main__, so that functions and
# classes defined there unpickle; the `if __name__ == "__main__"` block does not run.
old_main_modules = []


def _fixup_main_from_name(mod_name):
    current_main = sys.modules["__main__"]
    if mod_name == "__main__" or mod_name.endswith(".__main__"):
        return
    if getattr(getattr(current_main, "__spec__", None), "name", None) == mod_name:
        return
    import runpy
    old_main_modules.append(current_main)
    main_module = types.ModuleType("__mp_main__")
    main_content = runpy.run_module(mod_name, run_name="__mp_main__", alter_sys=True)
    main_module.__dict__.update(main_content)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main_module


def _fixup_main_from_path(main_path):
    current_main = sys.modules["__main__"]
    main_name = os.path.splitext(os.path.basename(main_path))[0]
    if main_name == "ipython":
        return
    if getattr(current_main, "__file__", None) == main_path:
        return
    import runpy
    old_main_modules.append(current_main)
    main_module = types.ModuleType("__mp_main__")
    main_content = runpy.run_path(main_path, run_name="__mp_main__")
    main_module.__dict__.update(main_content)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main_module


def import_main_path(main_path):
    """Set sys.modules['__main__'] to the module at main_path."""
    _fixup_main_from_path(main_path)


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def spawn_main():
    """Entry point of a spawned child: read the bootstrap, prepare, run, exit."""
    from . import reduction
    reduction.set_inherited_fds(FIRST_PASSED_FD)
    exitcode = _main(_read_all(BOOTSTRAP_FD))
    sys.exit(exitcode)


def _main(bootstrap, parent_sentinel=None):
    """Unpickle the preparation data and the Process object, then run it."""
    import io
    import pickle
    stream = io.BytesIO(bootstrap)
    current = process.current_process()
    # Set while the main module is imported again too: a module that starts a process
    # at import (no `if __name__ == "__main__":`) gets CPython's bootstrapping error
    # instead of starting children of children forever.
    current._inheriting = True
    try:
        preparation_data = pickle.load(stream)
        watched = _watch_parent(preparation_data.get("parent_watch"))
        if watched is not None:
            parent_sentinel = watched
        prepare(preparation_data)
        self = pickle.load(stream)
    finally:
        del current._inheriting
    return self._bootstrap(parent_sentinel)


def _watch_parent(watch):
    """Have the Go core watch the parent, before anything of the user's runs (``prepare``
    imports the main module); return the parent's pidfd, ``parent_process()``'s sentinel.

    *watch* is ``(index of the parent's pidfd among the inherited descriptors, grace in
    ms)``.  Until this call the kernel kills this child the instant its parent dies
    (PR_SET_PDEATHSIG; a fork-served child watches from its fork on, see forkserver.py).
    After it, the parent's death makes the sentinel ready at once (so
    ``parent_process().is_alive()`` is False and ``join()`` returns), and the Go core kills
    this process (SIGKILL) when the grace has passed, unless it exited first.  The watch
    is a goroutine: it works while Python is busy in C code or holds the GIL, and it
    touches no signal handler.  It must run on the main thread, which alone carries
    PR_SET_PDEATHSIG."""
    if watch is None:
        return None
    index, grace_ms = watch
    from . import reduction
    fd = reduction.inherited_fd(index)
    os.set_inheritable(fd, False)
    if grace_ms is None:
        return fd  # a fork-served child: watched since its fork (forkserver._watch_parent)
    from . import _native
    _native.call(_native.ext.gompxcore_WatchParent, fd, grace_ms)
    return fd
