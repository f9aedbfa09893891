"""Child-process targets of test_cluster_queue.py (importable by spawned children)."""


def put_range(q, start, n):
    """Put start..start+n-1 into the cluster queue q (reopened by name in this child)."""
    for i in range(start, start + n):
        q.put(i)


def drain_and_mark_done(q, out):
    """Take items from the joinable cluster queue q until a None, marking each done
    (the None too); report the items to out, another cluster queue."""
    got = []
    while True:
        item = q.get(timeout=60)
        q.task_done()
        if item is None:
            break
        got.append(item)
    out.put(got)


def pid_then_sleep(directory, seconds):
    """Leave a file named by this process's pid, then sleep (bench_cluster's kill case:
    it finds the worker machine running the task by that pid)."""
    import os
    import time
    open(os.path.join(directory, str(os.getpid())), "w").close()
    time.sleep(seconds)
    return os.getpid()
