"""Map Python data over Go functions: gompx.goworkers.GoPool runs a Go worker program.

    python map_words.py [WORKER_BINARY]

Without an argument the worker (main.go here) is built with ``go build`` into a temporary
directory first.  Prints SHA-256 digests and word counts computed in Go, checks them against
Python's own, and shows how a Go error arrives.
"""

import collections
import hashlib
import os
import subprocess
import sys
import tempfile

from gompx.goworkers import GoError, GoPool

HERE = os.path.dirname(os.path.abspath(__file__))

LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "The dog sleeps; the fox runs.",
    "Go and Python, side by side.",
]


def build(outdir):
    binary = os.path.join(outdir, "wordworker")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=HERE, check=True)
    return binary


def main(binary):
    with GoPool(binary, processes=2) as pool:
        print("functions:", ", ".join(pool.functions))
        digests = pool.map("sha256", [line.encode() for line in LINES])
        for line, digest in zip(LINES, digests):
            assert digest == hashlib.sha256(line.encode()).hexdigest()
            print(digest[:16], line)
        counts = collections.Counter()
        for c in pool.imap("wordcount", LINES):
            counts.update(c)
        print("most common:", counts.most_common(3))
        print("one call:", pool.call("wordcount", "a b a"))
        try:
            pool.call("sha256", 42)
        except GoError as e:
            print("GoError:", e)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(build(tmp))
