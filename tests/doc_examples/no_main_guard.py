"""The documentation's "bad" example: a Pool made at import, with no main guard.

Under spawn a child imports this module again, tries to start processes of its own
before its bootstrap is done, and must get CPython's "bootstrapping phase" error."""
import multiprocessing

multiprocessing.set_start_method("spawn", force=True)


def f(x):
    return x


with multiprocessing.Pool(1) as pool:
    print(pool.map(f, [1], chunksize=1))
