"""With tracemalloc tracing 10 frames: allocates objects at known sites,
dumps, and writes tracemalloc's own answers for test_dumper.c.

usage: tm.py DUMP VIEW

View lines:
  t ID N FILE:LINE...       _tracemalloc._get_object_traceback (N frames),
                            most recent frame first, for every tracked
                            object that has one
  s COUNT BYTES FILE:LINE...  Snapshot.statistics('traceback') of the
                            allocation site in make_records()
  mem BEFORE AFTER PEAK     traced bytes before and after the dump, and the
                            peak while it ran
  call FILE:LINE            where heapsnap.dump calls into C: no live
                            allocation in the dump may come from there
"""
import gc
import inspect
import sys
import tracemalloc

tracemalloc.start(10)

import _tracemalloc  # noqa: E402

import heapsnap  # noqa: E402


class Record:
    def __init__(self, i):
        self.i = i
        self.tags = ["tag-%d" % i]


def make_records(n):
    return [Record(i) for i in range(n)]


def frames(tb):
    return " ".join("%s:%d" % (f, l) for f, l in tb)


def main(dump_path, view_path):
    records = make_records(5000)
    gc.collect()
    gc.disable()
    objs = gc.get_objects()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    heapsnap.dump(dump_path)
    after, peak = tracemalloc.get_traced_memory()
    snap = tracemalloc.take_snapshot()
    with open(view_path, "w") as f:
        f.write("mem %d %d %d\n" % (before, after, peak))
        lines, first = inspect.getsourcelines(heapsnap.dump)
        call = first + next(i for i, s in enumerate(lines) if "_dumper.dump(" in s)
        f.write("call %s:%d\n" % (inspect.getsourcefile(heapsnap.dump), call))
        for o in objs:
            tb = _tracemalloc._get_object_traceback(o)
            if tb is None:
                continue
            # tracemalloc.get_object_traceback says the same, oldest first
            assert list(tracemalloc.get_object_traceback(o)) == [
                tracemalloc.Frame(x) for x in reversed(tb)]
            f.write("t %x %d %s\n" % (id(o), len(tb), frames(tb)))
        line = make_records.__code__.co_firstlineno + 1
        for st in snap.statistics("traceback"):
            fr = st.traceback[-1]
            if fr.filename == __file__ and fr.lineno == line:
                f.write("s %d %d %s\n" % (
                    st.count, st.size,
                    frames((x.filename, x.lineno) for x in reversed(st.traceback))))
    del records
    gc.enable()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
