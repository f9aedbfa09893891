# gompx: concurrent.futures.ProcessPoolExecutor on gompx's processes and pools.
from concurrent.futures.process import BrokenProcessPool as BrokenProcessPool, ProcessPoolExecutor as ProcessPoolExecutor

__all__ = ["ProcessPoolExecutor", "BrokenProcessPool"]
