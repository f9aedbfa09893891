"""Functions the pyworker tests call in Python workers."""

import os
import time


class CustomError(Exception):
    pass


class Box:
    @staticmethod
    def double(x):
        return 2 * x


def echo(*args):
    return args


def kw(a, b=0, *, c=0):
    return a + 10 * b + 100 * c


def square(x):
    return x * x


def square_unless_37_or_40(x):
    if x in (37, 40):
        raise ValueError("bad item %d" % x)
    return x * x


def fail(message):
    return _inner(message)


def _inner(message):
    raise ValueError(message)


def custom():
    raise CustomError("custom failure")


def die(code):
    os._exit(code)


def sleep(seconds):
    time.sleep(seconds)
    return os.getpid()


def pid():
    return os.getpid()


def unpicklable():
    return lambda: None
