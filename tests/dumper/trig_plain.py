"""A program that knows nothing of heapsnap: it blocks its main thread in C
until SIGINT, in one of three ways, and exits 0.

usage: trig_plain.py READY sleep|lock|select

Creates READY once it blocks (almost: the file comes first).
"""
import select
import sys
import threading
import time


def main(ready, how):
    data = {i: str(i) for i in range(50000)}
    open(ready, "w").close()
    try:
        if how == "sleep":
            time.sleep(120)
        elif how == "lock":
            lock = threading.Lock()
            lock.acquire()
            lock.acquire(timeout=120)
        else:
            ep = select.epoll()
            ep.poll(120)
    except KeyboardInterrupt:
        pass
    return 0 if len(data) == 50000 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
