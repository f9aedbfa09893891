"""The ``gompx`` console command: runs the Go program installed with the package
(``gompx server``, ``gompx worker``; cmd/gompx)."""

import os
import sys

__all__ = ["main"]


def main():
    from .cluster import command_path
    path = command_path()
    if not os.path.exists(path):
        sys.exit("gompx: the gompx command is missing from this install (%s)" % path)
    os.execv(path, [path] + sys.argv[1:])
