"""Must find: a logger created per request. logging.getLogger never forgets
a name: the manager's loggerDict keeps every per-request logger, and with
it the handler added to it.

    python3 logger.py OUTDIR
"""
import logging

import phases

def handle(rid):
    log = logging.getLogger(f"app.request.{rid}")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    log.info("request %d", rid)


def run(out, args):
    phases.serve(out, handle)


if __name__ == "__main__":
    phases.main(__file__)
