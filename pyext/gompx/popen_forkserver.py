"""The ``forkserver`` start method: children forked by a server that never loads Go.

Laid out like CPython's ``multiprocessing/popen_forkserver.py``.
"""

import io
import os
import signal

from . import context
from . import forkserver
from . import reduction
from . import spawn
from . import util

__all__ = ["Popen"]


class Popen:
    """Start and supervise one child of the fork server."""

    method = "forkserver"

    def __init__(self, process_obj):
        util._flush_std_streams()
        self.returncode = None
        self.finalizer = None
        self._fds = []
        self._launch(process_obj)

    def duplicate_for_child(self, fd):
        self._fds.append(fd)
        return len(self._fds) - 1

    def _launch(self, process_obj):
        prep_data = spawn.get_preparation_data(process_obj._name)
        stream = io.BytesIO()
        stream.write(bytes(8))
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, stream)
            reduction.dump(process_obj, stream)
        finally:
            context.set_spawning_popen(None)
        buf = stream.getbuffer()
        buf[:8] = forkserver.SIGNED_STRUCT.pack(len(buf) - 8)
        self._channel = forkserver.connect_to_new_process(self._fds)
        try:
            self.pid = forkserver.read_signed(self._channel)
        except EOFError:
            self._channel.close()
            raise OSError("the fork server did not start the child (it may have exited)")
        self._channel.sendall(buf)
        self.sentinel = self._channel.fileno()

    def poll(self, flag=os.WNOHANG):
        if self.returncode is None:
            from .connection import wait
            timeout = 0 if flag == os.WNOHANG else None
            if not wait([self.sentinel], timeout):
                return None
            try:
                self.returncode = forkserver.read_signed(self._channel)
            except (OSError, EOFError):
                # The server died before reporting: the child's fate is unknown.
                self.returncode = 255
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            from .connection import wait
            if not wait([self.sentinel], timeout):
                return None
            return self.poll(0)
        return self.returncode

    def _send_signal(self, sig):
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self):
        self._send_signal(signal.SIGTERM)

    def kill(self):
        self._send_signal(signal.SIGKILL)

    def close(self):
        if self._channel is not None:
            self._channel.close()
            self._channel = None
