"""CPython's own concurrent.futures process-pool tests, for one start method.

The interpreter's ``test_concurrent_futures`` (one module up to 3.11, a package from
3.12) makes its test classes per executor with mixins; the process-pool ones for the
start method in ``GOMPX_SUITE_METHOD`` are collected here.  They keep their own module,
so children and module fixtures find them where CPython put them.
"""

import importlib
import os
import pkgutil
import unittest

_PREFIX = "ProcessPool" + os.environ["GOMPX_SUITE_METHOD"].capitalize()


def _test_modules():
    package = importlib.import_module("test.test_concurrent_futures")
    if not hasattr(package, "__path__"):
        return [package]
    return [importlib.import_module(package.__name__ + "." + info.name)
            for info in pkgutil.iter_modules(package.__path__)
            if info.name.startswith("test_")]


for _module in _test_modules():
    for _name, _obj in vars(_module).items():
        if (isinstance(_obj, type) and issubclass(_obj, unittest.TestCase)
                and _name.startswith(_PREFIX)):
            globals()[_name] = _obj
