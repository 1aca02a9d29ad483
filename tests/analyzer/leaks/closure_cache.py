"""Must find: an unbounded cache a closure keeps. The handler factory
memoizes every response in a dict only its inner function sees (the dict
is reached through the function's __closure__ cell, not a namespace).

    python3 closure_cache.py OUTDIR   (writes OUTDIR/d1.hsnap, d2, d3)
"""
import phases


class Response:
    def __init__(self, rid):
        self.rid = rid
        self.body = f"response {rid} " + "x" * 200


def make_handler():
    seen = {}

    def handle(rid):
        seen[rid] = Response(rid)

    return handle


handler = make_handler()


def run(out, args):
    phases.serve(out, handler)


if __name__ == "__main__":
    phases.main(__file__)
