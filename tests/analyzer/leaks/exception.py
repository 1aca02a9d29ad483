"""Must find: exceptions kept with their tracebacks. A retry helper stores
each failure for a later report; each exception's __traceback__ keeps the
frames that raised it, and their locals (a parsed payload) with them.

    python3 exception.py OUTDIR
"""
import phases

_failures = {}


class FetchError(Exception):
    pass


def parse(rid):
    payload = [str(i) for i in range(40)]
    raise FetchError(f"request {rid}: upstream said no ({len(payload)} fields)")


def handle(rid):
    try:
        parse(rid)
    except FetchError as e:
        _failures[rid] = e


def run(out, args):
    phases.serve(out, handle, per_phase=200)


if __name__ == "__main__":
    phases.main(__file__)
