"""Must find: functools.lru_cache on a method. The cache lives on the
class's function and its keys hold every instance the method was ever
called on, so each per-request Service stays alive.

    python3 lru_method.py OUTDIR
"""
import functools

import phases

class Service:
    def __init__(self, rid):
        self.rid = rid
        self.scratch = bytearray(256)

    @functools.lru_cache(maxsize=None)
    def lookup(self, key):
        return key * 2


def handle(rid):
    Service(rid).lookup(rid % 7)


def run(out, args):
    phases.serve(out, handle)


if __name__ == "__main__":
    phases.main(__file__)
