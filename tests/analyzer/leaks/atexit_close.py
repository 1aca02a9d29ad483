"""Must find: objects kept only by a C-level reference. Every connection
registers its close() with atexit; the atexit module keeps the bound
methods in a C array no Python object points to, so each Connection
lives until the interpreter exits.

    python3 atexit_close.py OUTDIR
"""
import atexit

import phases

class Connection:
    def __init__(self, rid):
        self.rid = rid
        self.buffer = bytearray(512)

    def close(self):
        self.buffer = None


def handle(rid):
    conn = Connection(rid)
    atexit.register(conn.close)


def run(out, args):
    phases.serve(out, handle)


if __name__ == "__main__":
    phases.main(__file__)
