"""Must not report: per-request objects freed after each request. Each
request builds a context with a few helpers; a handful of requests are in
flight at every dump, but every one of them is new.

    python3 churn.py OUTDIR
"""
import phases

_in_flight = {}


class Request:
    def __init__(self, rid):
        self.rid = rid
        self.params = {"q": f"query {rid}", "page": rid % 10}
        self.body = bytearray(300)


def handle(rid):
    _in_flight[rid] = Request(rid)
    _in_flight.pop(rid - 5, None)  # the request from 5 ago has finished


def run(out, args):
    phases.serve(out, handle)


if __name__ == "__main__":
    phases.main(__file__)
