"""The ``forkserver`` start method: children forked by a server that never loads Go.

Laid out like CPython's ``multiprocessing/popen_forkserver.py``: the spawn Popen, with the
child asked of the fork server instead of started by the Go core.  The child's sentinel
is its channel to the server, which writes the exit code there when it reaps the child.
"""

import io
import os

from . import forkserver
from . import popen_spawn_posix
from . import util

__all__ = ["Popen"]


class Popen(popen_spawn_posix.Popen):
    """Start and supervise one child of the fork server."""

    method = "forkserver"
    _channel = None

    def _child_grace_ms(self):
        # The grace goes to the fork server, which watches for the child from its fork on
        # (forkserver._watch_parent) without loading the Go runtime: that would cost
        # more than the whole start.
        return None

    def _launch(self, process_obj):
        stream = io.BytesIO()
        stream.write(bytes(8))  # room for the length prefix
        self._pickle_for_child(process_obj, stream)
        buf = stream.getbuffer()
        buf[:8] = forkserver.SIGNED_STRUCT.pack(len(buf) - 8)
        from .popen_spawn_posix import orphan_grace_ms
        channel = forkserver.connect_to_new_process(self._fds, orphan_grace_ms())
        # A plain descriptor from here on, as CPython's popen_forkserver keeps its ends:
        # closed by close() or, once this Popen is garbage, by its finalizer.
        self._channel = channel.detach()
        self.finalizer = util.Finalize(self, util.close_fds, (self._channel,))
        try:
            self.pid = forkserver.read_signed(self._channel)
        except EOFError:
            self.close()
            raise OSError("the fork server did not start the child (it may have exited)") \
                from None
        forkserver.write_all(self._channel, buf)
        self.sentinel = self._channel

    def _wait(self, timeout):
        from .connection import wait
        if not wait([self.sentinel], timeout):
            return
        try:
            self.returncode = forkserver.read_signed(self._channel)
        except (OSError, EOFError):
            # The server died before reporting: the child's fate is unknown.
            self.returncode = 255

    def _send_signal(self, sig):
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def close(self):
        if self._channel is not None:
            self.finalizer()
            self._channel = None
