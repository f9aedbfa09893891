"""concurrent.futures' ProcessPoolExecutor example: which numbers are prime."""
import concurrent.futures
import math

PRIMES = [1000003, 1000033, 999999, 1000037, 2, 1234567891, 1234567893]


def is_prime(n):
    if n < 2:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    sqrt_n = int(math.floor(math.sqrt(n)))
    for i in range(3, sqrt_n + 1, 2):
        if n % i == 0:
            return False
    return True


def main():
    with concurrent.futures.ProcessPoolExecutor() as executor:
        for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
            print("%d is prime: %s" % (number, prime))
        future = executor.submit(pow, 2, 10)
        print(future.result(), type(executor).__name__)


if __name__ == "__main__":
    main()
