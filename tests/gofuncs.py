"""Stubs of the Go functions tests/goclusterworker serves over a cluster.

A cluster pool sends a function by reference ("gofuncs:square"); a Go worker serving
that name runs it, so these bodies never run there.  Called here, they say so.
"""


def _served_in_go(*args):
    raise RuntimeError("gofuncs stubs run in Go (tests/goclusterworker), not in Python")


def square(x):
    return _served_in_go(x)


def add(*args):
    return _served_in_go(*args)


def fail(*args):
    return _served_in_go(*args)


def pid():
    return _served_in_go()
