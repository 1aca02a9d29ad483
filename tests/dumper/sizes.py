"""Makes N instances of a few classes while tracemalloc traces, dumps, and
writes how much memory making them took for test_sizes.c to compare with
the sizes the dump gives them (and the __dict__ objects they hold).

usage: sizes.py DUMP VIEW

View lines:
  c TYPENAME COUNT BYTES   COUNT instances of TYPENAME were made (and kept)
                           and tracemalloc's traced memory grew by BYTES
"""
import gc
import sys
import tracemalloc

import heapsnap

N = 20000
VALUE = ("shared",)  # every attribute refers to it: no value is allocated
NAMES30 = [sys.intern("a%d" % i) for i in range(30)]


class One:
    def __init__(self):
        self.a = VALUE


class Four:
    def __init__(self):
        self.a = VALUE
        self.b = VALUE
        self.c = VALUE
        self.d = VALUE


class Thirty:
    def __init__(self):
        for name in NAMES30:
            setattr(self, name, VALUE)


class Slotted:
    __slots__ = ("a", "b", "c", "d")

    def __init__(self):
        self.a = VALUE
        self.b = VALUE
        self.c = VALUE
        self.d = VALUE


class WithDict(Four):
    """Four attributes, then __dict__ read: a dict object of its own."""


def make(cls, out):
    """The traced bytes making len(out) instances of cls took."""
    before = tracemalloc.get_traced_memory()[0]
    for i in range(len(out)):
        out[i] = cls()
        if cls is WithDict:
            vars(out[i])
    return tracemalloc.get_traced_memory()[0] - before


def main(dump_path, view_path):
    tracemalloc.start(1)
    gc.collect()
    # nothing freed by a collection while counting
    gc.disable()
    made = []
    for cls in (One, Four, Thirty, Slotted, WithDict):
        out = [None] * N
        made.append((cls, out, make(cls, out)))
    heapsnap.dump(dump_path)
    with open(view_path, "w") as f:
        for cls, out, grew in made:
            f.write("c __main__.%s %d %d\n" % (cls.__qualname__, len(out), grew))
    gc.enable()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
