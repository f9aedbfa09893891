"""Process with a target; the child's name and parent pid.

(Not the module name the documentation prints too: it is "__main__" under stdlib's
default fork and "__mp_main__" under spawn, the only start method both share.)"""
import os
from multiprocessing import Process, current_process, parent_process


def info(title, queue):
    queue.put((title, current_process().name, parent_process().pid == os.getppid()))


if __name__ == "__main__":
    from multiprocessing import Queue
    q = Queue()
    p = Process(target=info, args=("function f", q), name="worker-1")
    p.start()
    print(q.get())
    p.join()
    print("exitcode", p.exitcode)
