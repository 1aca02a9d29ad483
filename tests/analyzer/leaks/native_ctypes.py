"""Must find as memory no Python object explains: 8 KiB of libc malloc
per request through ctypes, written and never freed, 8 MiB per phase. No
Python object keeps the addresses.

    python3 native_ctypes.py OUTDIR
"""
import ctypes

import phases

_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]


def handle(rid):
    ctypes.memset(_libc.malloc(8192), 0xA5, 8192)


def run(out, args):
    phases.serve(out, handle, per_phase=1024)


if __name__ == "__main__":
    phases.main(__file__)
