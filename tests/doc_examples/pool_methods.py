"""Pool's methods, errors and timeouts, as the documentation's pool example shows them."""
import time
from multiprocessing import Pool, TimeoutError


def f(x):
    return x * x


def fail(x):
    raise ValueError("bad %d" % x)


if __name__ == "__main__":
    with Pool(processes=4) as pool:
        print(pool.map(f, range(10)))
        print(list(pool.imap(f, range(10))))
        print(sorted(pool.imap_unordered(f, range(10))))
        print(pool.starmap(pow, [(2, 3), (3, 2)]))
        print(pool.apply_async(f, (20,)).get(timeout=10))
        try:
            pool.apply(fail, (7,))
        except ValueError as e:
            print("ValueError:", e)
        res = pool.apply_async(time.sleep, (2,))
        try:
            res.get(timeout=0.2)
        except TimeoutError:
            print("We lacked patience and got a multiprocessing.TimeoutError")
