"""Must find: a growing log of untracked dicts. Each query appends a dict
of strings and floats to a module-level log; such dicts are not tracked
by the GC, so gc.get_objects() never sees them grow.

    python3 untracked.py OUTDIR
"""
import gc

import phases

_queries = []


def execute(rid):
    _queries.append({"sql": f"SELECT * FROM t WHERE id = {rid}", "time": rid * 0.001})


def run(out, args):
    phases.serve(out, execute, per_phase=400)
    assert not gc.is_tracked(_queries[-1])


if __name__ == "__main__":
    phases.main(__file__)
