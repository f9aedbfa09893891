"""The resource tracker: CPython's protocol and its observable contract (the tracker is
shared, ignores SIGINT/SIGTERM, is relaunched with a warning after a SIGKILL, and unlinks
what its users leaked).  Each test runs in a fresh interpreter: the tracker is per
process tree, and these tests kill it."""

import pytest

KILLED_TRACKER = """if 1:
    import os, signal, warnings
    import {mod} as mp
    from {mod} import resource_tracker as rt

    if __name__ == "__main__":
        rt.ensure_running()
        pid = rt._resource_tracker._pid
        os.kill(pid, signal.{sig})
        if "{sig}" == "SIGKILL":
            os.waitpid(pid, 0)
        else:
            import time; time.sleep(0.5)  # a signal it ignores must not kill it
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sem = mp.get_context("spawn").Semaphore()
            sem.acquire(); sem.release()
            mp.get_context("spawn").Lock()
        died = [str(w.message) for w in caught if "process died" in str(w.message)]
        print(len(died), rt._resource_tracker._pid not in (None, pid))
"""


@pytest.mark.parametrize("sig, warnings, relaunched", [
    ("SIGKILL", 1, True),
    ("SIGINT", 0, False),
    ("SIGTERM", 0, False),
])
def test_creating_a_semaphore_notices_a_killed_tracker(modname, run_script, sig, warnings,
                                                       relaunched):
    done = run_script(KILLED_TRACKER.format(mod=modname, sig=sig))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(warnings), str(relaunched)]


def test_gompx_semaphores_never_start_a_tracker(impl, modname, run_script):
    done = run_script(f"""if 1:
        import {modname} as mp
        from {modname} import resource_tracker as rt
        if __name__ == "__main__":
            mp.get_context("spawn").Semaphore()
            print(rt._resource_tracker._pid is not None)
        """)
    assert done.returncode == 0, done.stderr
    # stdlib's semaphores are named and registered; gompx's are memfd blocks.
    assert done.stdout.split() == [str(impl == "stdlib")]
