"""Long chains: a linked list of a million tracked objects and a million
nested untracked tuples (no recursion on heap depth may overflow).

usage: deep.py DUMP VIEW    VIEW: "heads NODE TUPLE" (ids in hex)
"""
import ctypes
import gc
import sys

import heapsnap

N = 1_000_000


class Node:
    __slots__ = ("next",)


def main(dump_path, view_path):
    # collections during the build would leave the tuples in an order one
    # collection cannot untrack
    gc.disable()
    head = None
    for _ in range(N):
        n = Node()
        n.next = head
        head = n
    t = None
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    for i in range(N):
        t = (i, t)
        # an outside reference to every tuple keeps the collector from
        # reordering them, so one collection untracks the whole chain
        incref(t)
    gc.collect()
    gc.enable()
    assert not gc.is_tracked(t)
    heapsnap.dump(dump_path)
    with open(view_path, "w") as f:
        f.write("heads %x %x\n" % (id(head), id(t)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
