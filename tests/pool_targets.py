"""Functions pool workers run in the pool tests (importable by name in spawned children)."""

import os
import signal
import sys
import time

INITIALIZED = None


def square(x):
    return x * x


def add(a, b):
    return a + b


def kw(a, b=0, *, c=0):
    return (a, b, c)


def pid(_=None):
    return os.getpid()


def raise_value_error(x):
    raise ValueError("bad value %r" % (x,))


def fail_on(x, bad=3):
    if x == bad:
        raise ValueError("task %d failed" % x)
    return x * 10


def sleep_then(x, seconds=0.05):
    time.sleep(seconds)
    return x


def sleep_long(x=None):
    time.sleep(60)
    return x


def init_global(value):
    global INITIALIZED
    INITIALIZED = value


def read_global(_=None):
    return INITIALIZED


def init_fail():
    raise RuntimeError("initializer failed on purpose")


class Unpicklable:
    def __reduce__(self):
        raise TypeError("this object refuses to be pickled")


def unpicklable_result(x):
    return Unpicklable() if x == 1 else x


class ExitWhenPickled:
    """A result whose pickling kills the worker: death while sending the result."""

    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        os._exit(self.code)


def exit_while_sending(x):
    return ExitWhenPickled(7) if x == 1 else x


def kill_self(x, victim=2):
    if x == victim:
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)
    return x


def exit_with(x, victim=1, code=3):
    if x == victim:
        os._exit(code)
    return x


def segfault(x):
    if x == 0:
        import ctypes
        ctypes.string_at(0)
    return x


def cpu_10ms(x):
    end = time.process_time() + 0.01
    n = 0
    while time.process_time() < end:
        n += 1
    return x


def identity(x):
    return x


def ignore_sigterm_and_sleep(marker=None):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if marker is not None:  # tells the test that SIGTERM is ignored from now on
        open(marker, "w").close()
    time.sleep(60)


def _refuse_to_load(message):
    import pickle
    raise pickle.UnpicklingError(message)


class LoadFails:
    """Pickles fine; unpickling it (in whichever process) raises UnpicklingError."""

    def __reduce__(self):
        return _refuse_to_load, ("this object refuses to be unpickled",)


class ExitWhenLoaded:
    """Pickles fine; unpickling it calls sys.exit(3)."""

    def __reduce__(self):
        import sys
        return sys.exit, (3,)


def result_load_fails(_=None):
    return LoadFails()


def result_exits_when_loaded(_=None):
    return ExitWhenLoaded()


def result_refuses_pickling(_=None):
    return Unpicklable()


class SysExitWhenPickled:
    """Pickling it calls sys.exit(4) (SystemExit, where ExitWhenPickled kills outright)."""

    def __reduce__(self):
        sys.exit(4)


def result_exits_when_pickled(_=None):
    return SysExitWhenPickled()


def call_sys_exit(code=5):
    sys.exit(code)


def wait_for(event):
    event.wait()
    return os.getpid()


def print_after(text, seconds):
    time.sleep(seconds)
    print(text, flush=True)


def load_fails_on(x, bad=1):
    return LoadFails() if x == bad else x


def mark_then_sleep(path, value, seconds):
    """Create *path* (the test knows the task is running), sleep, return *value*."""
    open(path, "w").close()
    time.sleep(seconds)
    return value


def touch_then_sleep(directory, x, seconds=0.2):
    """Leave a file per run of task x (a task that runs twice leaves two), then sleep."""
    import uuid
    open(os.path.join(directory, "%d-%s" % (x, uuid.uuid4().hex)), "w").close()
    time.sleep(seconds)
    return x * 2


def touch_pid_then_sleep(directory, x, seconds=0.1):
    """touch_then_sleep that also names the process: files "x-pid-uuid"."""
    import uuid
    open(os.path.join(directory, "%d-%d-%s" % (x, os.getpid(), uuid.uuid4().hex)), "w").close()
    time.sleep(seconds)
    return x * 2


def sleep_return(_, x, seconds):
    """Sleep, then return x (bench_cluster's stand-in for work)."""
    time.sleep(seconds)
    return x
