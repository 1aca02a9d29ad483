"""Must not report: a bounded LRU cache at its bound. Entries are replaced
all the time, but the cache never holds more than 256 of them.

    python3 bounded_cache.py OUTDIR
"""
import collections

import phases

MAX = 256


class Entry:
    def __init__(self, key):
        self.key = key
        self.data = f"entry {key} " + "y" * 100


class LRU:
    def __init__(self, maxsize):
        self.maxsize = maxsize
        self.items = collections.OrderedDict()

    def get(self, key):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        e = self.items[key] = Entry(key)
        if len(self.items) > self.maxsize:
            self.items.popitem(last=False)
        return e


_cache = LRU(MAX)


def run(out, args):
    for key in range(-2 * MAX, 0):  # warm up to the bound
        _cache.get(key)
    phases.serve(out, _cache.get)


if __name__ == "__main__":
    phases.main(__file__)
