"""The ``fork`` start method, which gompx refuses.

Laid out like CPython's ``multiprocessing/popen_fork.py``, so that whoever looks for fork
finds why it is not there: the Go runtime does not survive ``fork()`` (a forked child
hangs on its first blocking Go call).  ``Popen`` raises the same ``ValueError`` as
``get_context("fork")``, naming the start methods gompx offers.
"""

__all__ = ["Popen"]


class Popen:
    """Refuses to start a process by forking this one."""

    method = "fork"

    def __init__(self, process_obj):
        from .context import _FORK_REFUSED
        raise ValueError(_FORK_REFUSED)
