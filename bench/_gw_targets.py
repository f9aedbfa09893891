"""Pool targets of bench_goworkers.py: the Python twins of the Go example's functions."""

import hashlib

__all__ = ["sha256"]


def sha256(data):
    """Hex SHA-256 of *data*, as the Go worker's "sha256" returns it."""
    return hashlib.sha256(data).hexdigest()
