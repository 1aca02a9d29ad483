"""Must find: a search index (a binary search tree) that only grows. Every
request indexes its Record and nothing ever removes one, so the Records
sit at every depth of the tree; they are one leak, held by the index,
not one group per depth.

    python3 tree_index.py OUTDIR
"""
import random

import phases


class Node:
    __slots__ = ("key", "record", "left", "right")

    def __init__(self, key, record):
        self.key, self.record, self.left, self.right = key, record, None, None


class Index:
    def __init__(self):
        self.root = None

    def add(self, key, record):
        node = Node(key, record)
        if self.root is None:
            self.root = node
            return
        cur = self.root
        while True:
            side = "left" if key < cur.key else "right"
            nxt = getattr(cur, side)
            if nxt is None:
                setattr(cur, side, node)
                return
            cur = nxt


class Record:
    def __init__(self, rid):
        self.rid = rid
        self.body = "record body %d" % rid * 4


index = Index()


def handle(rid):
    index.add(random.random(), Record(rid))


def run(out, args):
    random.seed(11)
    phases.serve(out, handle, trace=False)


if __name__ == "__main__":
    phases.main(__file__)
