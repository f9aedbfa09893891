"""Synchronization and shared state: Lock, Value, Array, and a Manager."""
from multiprocessing import Array, Lock, Manager, Process, Value


def fill(n, a):
    n.value = 3.1415927
    for i in range(len(a)):
        a[i] = -a[i]


def add(lock, counter, times):
    for _ in range(times):
        with lock:
            counter.value += 1


def managed(d, l):
    d[1] = "1"
    d["2"] = 2
    d[0.25] = None
    l.reverse()


if __name__ == "__main__":
    num, arr = Value("d", 0.0), Array("i", range(10))
    p = Process(target=fill, args=(num, arr))
    p.start()
    p.join()
    print(num.value, arr[:])
    lock, counter = Lock(), Value("i", 0, lock=False)
    workers = [Process(target=add, args=(lock, counter, 500)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(counter.value)
    with Manager() as manager:
        d, l = manager.dict(), manager.list(range(10))
        p = Process(target=managed, args=(d, l))
        p.start()
        p.join()
        print(sorted(d.items(), key=repr), l)
