"""Must find: an unbounded cache in a module global. Every request stores
its response "for retries" in _responses, keyed by request id; nothing
ever removes an entry.

    python3 dict_cache.py OUTDIR   (writes OUTDIR/d1.hsnap, d2, d3)
"""
import phases

_responses = {}


class Response:
    def __init__(self, rid):
        self.rid = rid
        self.body = f"response {rid} " + "x" * 200
        self.headers = {"id": str(rid)}


def handle(rid):
    _responses[rid] = Response(rid)


def run(out, args):
    phases.serve(out, handle)


if __name__ == "__main__":
    phases.main(__file__)
