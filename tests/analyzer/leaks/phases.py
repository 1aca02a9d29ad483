"""Shared by the leak programs: run a program imported as a module, and
serve its requests in three phases with a dump after each.

A program ends with

    if __name__ == "__main__":
        phases.main(__file__)

and defines run(out, args), which writes out/d1.hsnap, d2 and d3.
"""
import importlib
import os
import sys
import tracemalloc

import heapsnap


def main(file):
    # Import the program as a module so that its globals are a module's,
    # as in an application, rather than the running __main__ frame's.
    sys.path.insert(0, os.path.dirname(os.path.abspath(file)))
    name = os.path.splitext(os.path.basename(file))[0]
    importlib.import_module(name).run(sys.argv[1], sys.argv[2:])


def dump(out, k):
    heapsnap.dump(os.path.join(out, f"d{k}.hsnap"))


def serve(out, handle, per_phase=300, trace=True):
    """handle(rid) for rid 1, 2, ... with a dump after every per_phase."""
    if trace:
        tracemalloc.start(4)
    rid = 0
    for k in (1, 2, 3):
        for _ in range(per_phase):
            rid += 1
            handle(rid)
        dump(out, k)
