"""Builds a heap of known shape, dumps it, and writes Python's own view of
every object (gc.get_objects() plus the closure of gc.get_referents and dict
keys) for test_dumper.c to compare with the dump.

usage: heap.py DUMP VIEW

View lines (ids in hex):
  o ID TRACKED SIZE LEN TYPENAME
                               SIZE is sys.getsizeof, or -1 where the
                               type's __sizeof__ is not a built-in one
                               or its instances have attribute values;
                               LEN is len() of built-in containers, else -1
  r ID DST...                  gc.get_referents, dict keys left out
  k ID KEY...                  a dict's keys
  x ID                         code object or type: the dump may add edges
  L SRC DST KIND LABEL         an edge the dump must label so
  F DST KIND LABEL             an edge of a thread's frame
  v ID HEX                     the value preview (hex of its bytes) of an
                               int, float, str or bytes: repr, or the text
  N ID NAME                    the name of a module, class, function,
                               method or code object
  G THRESHOLD0                 gc.get_threshold()[0]
"""
import collections
import gc
import math
import random
import sys
import weakref

import heapsnap

E_DICT_KEY, E_DICT_VALUE, E_ATTR, E_INDEX, E_LOCAL, E_CELL = 1, 2, 3, 4, 5, 6
E_DICT_ATTR, E_CLASS, E_SELF, E_FUNC, E_WEAK, E_NAMED = 7, 8, 9, 10, 11, 12
HEAPTYPE = 1 << 9
MANAGED_DICT = 1 << 4


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm(self):
        return (self.x * self.x + self.y * self.y) ** 0.5


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = ["slot-a"]


class WithDict:
    pass


class AppError(Exception):
    pass


def failing():
    raise KeyError("inner")


def raised():
    """A ValueError raised while handling a KeyError from a nested call:
    its __context__ has a traceback of two entries."""
    try:
        try:
            failing()
        except KeyError:
            raise ValueError("outer")
    except ValueError as e:
        return e


class Sneaky:
    """sys.getsizeof would run this; the dump must not."""
    calls = []

    def __sizeof__(self):
        Sneaky.calls.append(1)
        return 10 ** 9


SIZED = (list, tuple, dict, set, frozenset, str, bytes, bytearray,
         collections.deque)


def make_closure():
    captured = ["captured-by-closure"]

    def inner():
        return captured
    return inner


def type_name(t):
    if t.__flags__ & HEAPTYPE:
        mod = t.__dict__.get("__module__")
        if isinstance(mod, str) and mod != "builtins":
            return mod + "." + t.__qualname__
        return t.__qualname__
    if t.__module__ == "builtins":
        return t.__name__
    return t.__module__ + "." + t.__name__


def sizeof_builtin(t):
    """True when sys.getsizeof(x) runs a built-in __sizeof__ for type t."""
    for b in t.__mro__:
        d = b.__dict__.get("__sizeof__")
        if d is not None:
            return type(d).__name__ == "method_descriptor" and (
                b.__module__ == "builtins" or b is collections.deque)
    return False


def values():
    rnd = random.Random(7)
    floats = [0.1, 0.5, 1.0, -2.5, 1e16, 1e15, 123456789.125, 1e-4, 1e-5,
              9.999e-5, 2 ** 0.5, math.pi, 1 / 3, 1e22, 1e-300, 5e-324,
              1.7976931348623157e308, -0.0, float("inf"), float("-inf"),
              float("nan"), 100.0, 0.30000000000000004, 12345678901234567.0]
    floats += [rnd.random() * 10 ** rnd.randint(-10, 20) for _ in range(3000)]
    floats += [rnd.randint(-10 ** 6, 10 ** 6) / 8 for _ in range(1000)]
    floats += [struct_float(rnd.getrandbits(64)) for _ in range(1000)]
    ints = [0, 1, -1, 2 ** 30, 2 ** 60, -2 ** 64, 10 ** 50, 2 ** 1000,
            -(3 ** 500), True, False]
    ints += [rnd.getrandbits(rnd.randint(1, 400)) for _ in range(500)]
    texts = ["plain", "é", "日本語", "\U0001F600", "a" * 200, "é" * 100,
             b"bytes\x00\xff", None]
    return floats + ints + texts


def struct_float(bits):
    import struct
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]


def preview(o):
    if isinstance(o, str):
        return o.encode()
    if isinstance(o, bytes):
        return o
    return repr(o).encode()


def write_view(view_path, keep, heap, local_marker, uses_cell):
    point = heap["point"]
    wd = heap["withdict"]
    with open(view_path, "w") as f:
        w = f.write
        for o in keep:
            t = type(o)
            # the dump adds attribute values (test_sizes.c checks them)
            size = sys.getsizeof(o) if sizeof_builtin(t) and not (
                t.__flags__ & MANAGED_DICT) else -1
            n = len(o) if t in SIZED else -1
            w("o %x %d %d %d %s\n" % (id(o), gc.is_tracked(o), size, n,
                                      type_name(t)))
            refs = gc.get_referents(o)
            if isinstance(o, dict):
                # referents are the values, the keys when the traverse
                # visits them, and (subclasses) more: drop the keys only
                keys = list(o.keys())
                values = list(o.values())
                w("k %x %s\n" % (id(o), " ".join("%x" % id(k) for k in keys)))
                for x in values + keys:
                    for i, r in enumerate(refs):
                        if r is x:
                            del refs[i]
                            break
                refs += values
            w("r %x %s\n" % (id(o), " ".join("%x" % id(r) for r in refs)))
            if isinstance(o, type) or type(o).__name__ == "code":
                w("x %x\n" % id(o))

        def label(src, dst, kind, text):
            w("L %x %x %d %s\n" % (id(src), id(dst), kind, text))

        label(heap, point, E_DICT_VALUE, "'point'")
        label(heap, list(heap.keys())[0], E_DICT_KEY, "'point'")
        label(heap["dict_int"], heap["dict_int"][7], E_DICT_VALUE, "7")
        label(heap["dict_int"], list(heap["dict_int"].keys())[0], E_DICT_KEY, "7")
        label(point, point.x, E_ATTR, "x")
        label(point, point.y, E_ATTR, "y")
        label(point, Point, E_CLASS, "-")
        label(heap["list"], heap["list"][1], E_INDEX, "1")
        label(heap["list"][2], heap["list"][2][1], E_INDEX, "1")
        cell = heap["closure"].__closure__[0]
        label(cell, cell.cell_contents, E_NAMED, "cell_contents")
        label(heap["closure"], heap["closure"].__closure__, E_NAMED, "__closure__")
        exc = heap["exception"]
        label(exc, exc.args, E_NAMED, "args")
        label(exc, exc.__traceback__, E_NAMED, "__traceback__")
        label(exc, exc.__context__, E_NAMED, "__context__")
        label(exc.__traceback__, exc.__traceback__.tb_frame, E_NAMED, "tb_frame")
        inner_tb = exc.__context__.__traceback__  # raised(), then failing()
        label(inner_tb, inner_tb.tb_next, E_NAMED, "tb_next")
        label(inner_tb.tb_next, inner_tb.tb_next.tb_frame, E_NAMED, "tb_frame")
        label(heap["custom_exc"], heap["custom_exc"].args, E_NAMED, "args")
        label(heap["bound"], point, E_SELF, "-")
        label(heap["bound"], Point.norm, E_FUNC, "-")
        label(heap["weak"], point, E_WEAK, "-")
        label(heap["slotted"], heap["slotted"].a, E_ATTR, "a")
        label(wd, wd.__dict__, E_DICT_ATTR, "-")
        label(wd.__dict__, wd.attr, E_DICT_VALUE, "'attr'")
        w("F %x %d local_marker\n" % (id(local_marker), E_LOCAL))
        w("F %x %d cellvar\n" % (id(uses_cell.__closure__[0]), E_CELL))
        for o in heap["values"]:
            w("v %x %s\n" % (id(o), preview(o).hex()))
        for o, name in ((heapsnap, "heapsnap"), (Point, "__main__.Point"),
                        (make_closure, "make_closure"),
                        (heap["bound"], "Point.norm"),
                        (Point.norm.__code__, "Point.norm %s:%d" % (
                            __file__, Point.norm.__code__.co_firstlineno))):
            w("N %x %s\n" % (id(o), name))
        w("G %d\n" % gc.get_threshold()[0])


def main(dump_path, view_path):
    heap = {}
    point = Point(1.5, "y-value")
    heap["point"] = point
    heap["dict_str"] = {"alpha": ["alpha-value"], "beta": 2}
    heap["dict_int"] = {7: ["seven"], 8: "eight"}
    heap["list"] = ["l0", ["l1"], ("t0", ["t1"])]
    heap["closure"] = make_closure()
    heap["bound"] = point.norm
    heap["weak"] = weakref.ref(point)
    heap["slotted"] = Slotted()
    wd = WithDict()
    # a __dict__ object of its own, not (3.13) a view of inline values
    wd.__dict__ = {"attr": ["dict-attr"]}
    heap["withdict"] = wd
    heap["untracked"] = ("u", 1, 2.5, b"bytes", None, True, 10 ** 30)
    heap["deque"] = collections.deque(range(100))
    heap["bigstr"] = "é" * 300
    heap["values"] = values()
    heap["sneaky"] = Sneaky()
    heap["exception"] = raised()
    heap["custom_exc"] = AppError("custom", 7)
    local_marker = ["local-marker"]
    cellvar = ["cell-var"]

    def uses_cell():
        return cellvar

    gc.collect()
    gc.disable()
    objs = gc.get_objects()
    keep = list(objs)
    seen = {id(o) for o in keep}
    stack = list(objs)
    while stack:
        o = stack.pop()
        refs = gc.get_referents(o)
        if type(o) is dict or isinstance(o, dict):
            refs = refs + list(o.keys())
        for r in refs:
            if id(r) not in seen:
                seen.add(id(r))
                keep.append(r)
                stack.append(r)
    heapsnap.dump(dump_path)
    assert not Sneaky.calls, "the dump ran a Python __sizeof__"

    write_view(view_path, keep, heap, local_marker, uses_cell)
    gc.enable()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
