"""Resources a parent holds per child are released: nothing grows with the number of
children started, joined and dropped without close()."""

import gc
import os

import mp_targets as t


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_descriptors_do_not_grow_with_dropped_processes(ctx):
    def run_batch(n):
        for _ in range(n):
            p = ctx.Process(target=t.noop)
            p.start()
            p.join(10)
            assert p.exitcode == 0
        gc.collect()

    run_batch(3)  # warm: the Go core, a fork server or resource tracker open theirs once
    before = open_fds()
    run_batch(30)
    assert open_fds() <= before
