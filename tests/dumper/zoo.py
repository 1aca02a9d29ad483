"""Unusual heaps: objects of many C types, frame objects that own their
data, suspended generators, threads allocating while the main thread dumps,
a dump from another thread, and a dump attempted from a finalizer while the
collector runs (refused with OSError).

usage: zoo.py DIR    writes DIR/zoo-N.hsnap and DIR/zoo.view ("o ID" for
each zoo object, "dumps N")
"""
import array
import asyncio
import collections
import contextvars
import ctypes
import datetime
import decimal
import errno
import fractions
import functools
import gc
import io
import itertools
import mmap
import os
import re
import sqlite3
import sys
import threading
import types
import weakref
import xml.etree.ElementTree as ET

import heapsnap


def gen():
    local = ["in-generator"]
    yield local
    yield 2


async def agen():
    yield 1


def frame_owning_its_data():
    try:
        x = ["kept by the traceback"]
        raise ValueError(x)
    except ValueError as e:
        return e.__traceback__


class Finalized:
    result = None

    def __init__(self, path):
        self.path = path
        self.cycle = self

    def __del__(self):
        try:
            heapsnap.dump(self.path)
        except OSError as e:
            Finalized.result = e


def zoo():
    g = gen()
    next(g)
    a = agen()
    db = sqlite3.connect(":memory:")
    cur = db.execute("select 1")
    m = mmap.mmap(-1, 4096)
    objs = [
        array.array("d", range(100)), collections.OrderedDict(a=1),
        collections.defaultdict(list), collections.Counter("abcab"),
        collections.deque(range(10), maxlen=20), contextvars.copy_context(),
        ctypes.c_int(5), (ctypes.c_char * 16)(), ctypes.create_string_buffer(8),
        datetime.datetime.now(), decimal.Decimal("1.1"),
        fractions.Fraction(1, 3), functools.partial(print, 1),
        io.BytesIO(b"x" * 100), io.StringIO("y"), itertools.count(),
        itertools.tee(range(3))[0], itertools.chain([1], [2]),
        re.compile(r"(a+)b"), re.match(r"(a)", "a"), db, cur, m,
        memoryview(b"abc"), types.MappingProxyType({"k": 1}),
        types.SimpleNamespace(a=1), property(lambda s: 1),
        staticmethod(len), classmethod(len), g, a, frame_owning_its_data(),
        sys._getframe(), ET.fromstring("<a><b/></a>"), weakref.WeakSet(),
        weakref.WeakValueDictionary(), slice(1, 2), range(10), bytearray(10),
        frozenset({1, 2}), complex(1, 2), NotImplemented, Ellipsis,
        asyncio.Event(), threading.Lock(), threading.RLock(),
        threading.Condition(), iter([1, 2]), reversed([1, 2]), zip([1], [2]),
        map(str, [1]), filter(None, [1]), enumerate([1]),
    ]
    return objs


def churn(stop):
    junk = []
    while not stop.is_set():
        junk.append({"n": len(junk), "l": [len(junk)] * 3})
        if len(junk) > 10000:
            junk.clear()


def main(d):
    objs = zoo()
    stop = threading.Event()
    workers = [threading.Thread(target=churn, args=(stop,)) for _ in range(3)]
    for t in workers:
        t.start()
    n = 0
    for i in range(4):
        heapsnap.dump(os.path.join(d, "zoo-%d.hsnap" % n),
                      values="none" if i % 2 else "preview")
        n += 1
    t = threading.Thread(target=heapsnap.dump,
                         args=(os.path.join(d, "zoo-%d.hsnap" % n),))
    t.start()
    t.join()
    n += 1
    stop.set()
    for t in workers:
        t.join()

    f = Finalized(os.path.join(d, "in-finalizer.hsnap"))
    del f
    gc.collect()
    e = Finalized.result
    assert isinstance(e, OSError) and e.errno == errno.EBUSY, e
    assert not os.path.exists(os.path.join(d, "in-finalizer.hsnap"))

    with open(os.path.join(d, "zoo.view"), "w") as v:
        for o in objs:
            v.write("o %x %s\n" % (id(o), type(o).__name__))
        v.write("dumps %d\n" % n)


if __name__ == "__main__":
    main(sys.argv[1])
