"""Dump figures: heapsnap.dump against tracemalloc's snapshot and a
gc.get_objects() + gc.get_referents() walk, on the same synthetic heap.

    PYTHONPATH=build/python python3 bench/dump_bench.py [--objects 1000000]
        [--frames 1] [--dir /tmp]

Each measurement runs in a fresh interpreter that builds the heap first, so
the peak memory of one does not hide another's. Peak extra memory is the
growth of the process's resident-set high-water mark over the resident set
just before the measurement (reset through /proc/self/clear_refs).

  heapsnap        heapsnap.dump() of the heap
  gc walk         gc.get_objects(), then every referent not seen yet (an id
                  set), gc.get_referents() of each object: what a pure
                  Python dumper must do before writing anything
  tracemalloc     tracing on (--frames) while the heap is built, then
                  tracemalloc.take_snapshot() + Snapshot.dump()
  heapsnap (tm)   heapsnap.dump() of that traced heap (allocation
                  tracebacks and sites included)

Bytes per object divide a file's size by the objects heapsnap wrote.
"""
import argparse
import gc
import json
import os
import subprocess
import sys
import time


class Record:
    def __init__(self, i):
        self.id = 100_000 + i                  # int
        self.name = "record-%d" % i             # str
        self.score = i * 0.25 + 0.1             # float
        self.tags = ["new", "active"]           # list (shared strs)
        self.meta = {"rank": i % 7, "ok": True} # untracked dict


OBJECTS_PER_RECORD = 6  # the instance, its int, str, float, list and dict


def build(n):
    gc.disable()
    heap = [Record(i) for i in range(n // OBJECTS_PER_RECORD)]
    gc.enable()
    gc.collect()
    return heap


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def measure(fn):
    """Runs fn(); returns its result, wall seconds and peak extra bytes."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the high-water mark to the current RSS
    before = status("VmRSS")
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    return result, seconds, max(0, status("VmHWM") - before)


def gc_walk():
    objs = gc.get_objects()
    seen = {id(o) for o in objs}
    stack = list(objs)
    n = 0
    while stack:
        o = stack.pop()
        n += 1
        for r in gc.get_referents(o):
            if id(r) not in seen:
                seen.add(id(r))
                stack.append(r)
    return n


def phase(name, n, frames, d):
    if name == "tracemalloc" or name == "heapsnap-tm":
        import tracemalloc
        tracemalloc.start(frames)
    import heapsnap
    heap = build(n)
    out = {"phase": name}
    if name in ("heapsnap", "heapsnap-tm"):
        path = os.path.join(d, "bench-%s.hsnap" % name)
        r, out["seconds"], out["extra"] = measure(lambda: heapsnap.dump(path))
        out["objects"], out["bytes"] = r.objects, r.bytes
        os.unlink(path)
    elif name == "gc-walk":
        out["objects"], out["seconds"], out["extra"] = measure(gc_walk)
        out["bytes"] = 0
    elif name == "tracemalloc":
        path = os.path.join(d, "bench.tracemalloc")

        def snap():
            s = tracemalloc.take_snapshot()
            s.dump(path)
            return len(s.traces)
        out["traces"], out["seconds"], out["extra"] = measure(snap)
        out["bytes"] = os.path.getsize(path)
        os.unlink(path)
    del heap
    print(json.dumps(out))


def run(name, args):
    cmd = [sys.executable, __file__, "--phase", name, "--objects",
           str(args.objects), "--frames", str(args.frames), "--dir", args.dir]
    res = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--frames", type=int, default=1,
                    help="tracemalloc frames per traceback")
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        phase(args.phase, args.objects, args.frames, args.dir)
        return
    hs = run("heapsnap", args)
    walk = run("gc-walk", args)
    tm = run("tracemalloc", args)
    hstm = run("heapsnap-tm", args)
    objects = hs["objects"]
    mib = 1 << 20

    print("heap: %d records, %d objects written by heapsnap; python %s"
          % (args.objects // OBJECTS_PER_RECORD, objects,
             sys.version.split()[0]))
    print("%-16s %9s %12s %10s %12s %12s"
          % ("", "seconds", "objects/s", "B/object", "extra MiB", "extra B/obj"))
    for name, r in (("heapsnap", hs), ("gc walk", walk),
                    ("tracemalloc", tm), ("heapsnap (tm)", hstm)):
        n = r.get("objects", objects)
        print("%-16s %9.3f %12.0f %10s %12.1f %12.1f" % (
            name, r["seconds"], n / r["seconds"],
            "%.2f" % (r["bytes"] / objects) if r["bytes"] else "-",
            r["extra"] / mib, r["extra"] / n))
    print()
    print("heapsnap vs gc walk:     %.1fx faster, %.1fx less extra memory"
          % (walk["seconds"] / hs["seconds"],
             walk["extra"] / max(hs["extra"], 1)))
    print("heapsnap vs tracemalloc: %.1fx faster, file %.1fx smaller per "
          "object (%d traces), %.1fx less extra memory"
          % (tm["seconds"] / hstm["seconds"], tm["bytes"] / hstm["bytes"],
             tm["traces"], tm["extra"] / max(hstm["extra"], 1)))
    rate = objects / hs["seconds"]
    print("targets: %.1fM objects/s (>= 5M: %s); file %.2f of tracemalloc's "
          "(<= 1/4: %s); extra %.1f B/object + 16 MiB (<= 16: %s)"
          % (rate / 1e6, "yes" if rate >= 5e6 else "no",
             hstm["bytes"] / tm["bytes"],
             "yes" if hstm["bytes"] * 4 <= tm["bytes"] else "no",
             max(0, hs["extra"] - 16 * mib) / objects,
             "yes" if hs["extra"] <= 16 * objects + 16 * mib else "no"))


if __name__ == "__main__":
    main()
