"""A heap of known shape for test_e2e.c: a module-global list of Holder
objects, a weak reference to one of them, and an unreachable two-object
cycle kept from the collector. Dumps it to argv[1] and prints the
addresses of _pending[7] and _pending[3]."""
import gc
import sys
import weakref

import heapsnap


class Holder:
    pass


class Node:
    pass


_pending = [Holder() for _ in range(10)]
_weak = weakref.ref(_pending[3])

gc.disable()
a, b = Node(), Node()
a.other, b.other = b, a
del a, b

heapsnap.dump(sys.argv[1])
print(hex(id(_pending[7])), hex(id(_pending[3])))
