"""Objects of oddext's types (see oddext.c), dumped with the collector off
(it would crash on NoTraverse).

usage: odd.py DUMP VIEW

  stopper ID A B     Stopper(A, B): its traverse visits A twice, never B
  hidden ID A        Hidden(A), not a GC object: A is held from C
  notrav ID A        NoTraverse(A), a GC object without traverse
"""
import gc
import sys

import heapsnap
import oddext


def main(dump_path, view_path):
    gc.disable()
    a = ["stopper-a"]
    s = oddext.Stopper(a, ["stopper-b"])
    h = oddext.Hidden(["hidden-a"])
    n = oddext.NoTraverse(["notrav-a"])
    heapsnap.dump(dump_path)
    with open(view_path, "w") as f:
        f.write("stopper %x %x %x\n" % (id(s), id(a), id(s.b)))
        f.write("hidden %x %x\n" % (id(h), id(h.a)))
        f.write("notrav %x %x\n" % (id(n), id(n.a)))
    return s, h, n


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
