"""Run under python -m heapsnap run --native (fork mode, the default):
mallocs 8 MiB through ctypes from a thread, then takes a dump in a fork()ed
child on SIGUSR1, as a service would, and waits for it in OUTDIR.

    python3 -m heapsnap run --native --dir OUTDIR native_fork.py
"""
import ctypes
import os
import signal
import sys
import threading
import time

_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]
_kept = []


def grab():
    for _ in range(1024):
        p = _libc.malloc(8192)
        ctypes.memset(p, 0x5A, 8192)
        _kept.append(p)


def main(out):
    t = threading.Thread(target=grab)
    t.start()
    t.join()
    os.kill(os.getpid(), signal.SIGUSR1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(f.endswith(".hsnap") for f in os.listdir(out)):
            return 0
        time.sleep(0.05)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
