"""A leaking process for test_e2e_report.c: a module-level registry whose
list (under a key with markup in it) gains Session objects between three
dumps, beside churn that is freed. Dumps to argv[1]/r1.hsnap .. r3.hsnap."""
import os
import sys

import heapsnap

KEY = "<script>alert('x')</script>\" & 'q'"
registry = {KEY: []}


class Session:
    def __init__(self, i):
        self.id = i
        self.note = f"<b>session {i}</b> & <script>"


def serve(n):
    for i in range(n):
        registry[KEY].append(Session(i))
        scratch = [Session(-i) for _ in range(3)]  # freed: churn, not a leak
        del scratch


for k in range(3):
    serve(2000)
    heapsnap.dump(os.path.join(sys.argv[1], f"r{k + 1}.hsnap"))
