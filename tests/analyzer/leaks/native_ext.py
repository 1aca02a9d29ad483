"""Must find as memory no Python object explains: a C extension that
mallocs 8 KiB per request and never frees it (leakext.c), 8 MiB per phase.
No Python object grows.

    python3 native_ext.py OUTDIR   (leakext on PYTHONPATH)
"""
import leakext

import phases


def handle(rid):
    leakext.leak(8192)


def run(out, args):
    phases.serve(out, handle, per_phase=1024)


if __name__ == "__main__":
    phases.main(__file__)
