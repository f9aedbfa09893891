"""CPython's own multiprocessing tests, for one start method, as a module of test cases.

This is what CPython's ``test_multiprocessing_spawn`` (and ``_forkserver``) do, with the
start method taken from ``GOMPX_SUITE_METHOD``: children inherit the environment, so a
child that unpickles a test class imports this module and finds the same classes.
"""

import os

from test._test_multiprocessing import install_tests_in_module_dict

install_tests_in_module_dict(globals(), os.environ["GOMPX_SUITE_METHOD"])
