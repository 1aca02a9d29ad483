"""Must not report: a WeakValueDictionary registry. Sessions register
themselves by id; the registry holds them weakly, so each goes away when
its request ends, and the registry stays small.

    python3 weak_registry.py OUTDIR
"""
import weakref

import phases

_registry = weakref.WeakValueDictionary()
_active = []


class Session:
    def __init__(self, rid):
        self.rid = rid
        self.state = {"user": f"user{rid}", "items": list(range(20))}


def handle(rid):
    s = Session(rid)
    _registry[rid] = s
    _active.append(s)
    if len(_active) > 8:  # requests end; the last few are still running
        _active.pop(0)


def run(out, args):
    phases.serve(out, handle)


if __name__ == "__main__":
    phases.main(__file__)
