"""A prefork service: a master that forks two workers which run the dump
handler (inherited from the master's heapsnap.install(), or, with
--workers-only, installed by each worker itself), then waits for SIGINT.

usage: trig_prefork.py DIR READY [--workers-only]

Writes READY ("workers PID PID") once both workers' handlers are up. On
SIGINT the master stops its workers and exits 0.
"""
import os
import signal
import sys
import time

import heapsnap


def handler_up(pid):
    return os.path.exists("/tmp/heapsnap-%d/%d" % (os.geteuid(), pid))


def worker(d, own, master):
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # atexit: uninstall
    if own:
        heapsnap.install(dir=d)
    data = [("request %d" % i, i) for i in range(20000)]
    while os.getppid() == master:
        time.sleep(0.1)
    return len(data)


def main(d, ready, workers_only):
    if not workers_only:
        heapsnap.install(dir=d)
    master, pids = os.getpid(), []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                worker(d, workers_only, master)
            finally:
                os._exit(0)
        pids.append(pid)
    deadline = time.monotonic() + 20
    while not all(map(handler_up, pids)) and time.monotonic() < deadline:
        time.sleep(0.01)
    with open(ready + ".tmp", "w") as f:
        f.write("workers %d %d\n" % tuple(pids))
    os.rename(ready + ".tmp", ready)
    try:
        time.sleep(120)
    except KeyboardInterrupt:
        pass
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    return 0 if all(os.waitpid(pid, 0)[1] == 0 for pid in pids) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], "--workers-only" in sys.argv[3:]))
