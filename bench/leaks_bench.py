"""Leak figures: 'heapsnap diff' and 'heapsnap leaks' on three dumps of a
process of about a million objects, with the loads (nothing cached yet)
and once loaded (the databases cached beside the dumps).

    PYTHONPATH=build/python python3 bench/leaks_bench.py
        [--heapsnap build/analyzer/heapsnap] [--objects 1000000]
        [--frames 1] [--runs 3] [--dir /tmp/heapsnap-leaks-bench]

The process (a fresh interpreter, tracemalloc tracing --frames frames)
builds a base heap of Record objects, then serves requests in three phases
with a dump after each: every request makes a few objects that die with it
(churn) and leaks a Response into a module-level list, 1 % of the base
heap per phase. Targets: 10 s with the loads, 2 s once loaded. The check
column says whether 'leaks' ranked the planted leak first.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

TARGET_COLD, TARGET_WARM = 10.0, 2.0

APP = r'''
import gc, os, sys, tracemalloc
import heapsnap

class Record:
    def __init__(self, i):
        self.id = 100_000 + i
        self.name = "record-%d" % i
        self.score = i * 0.25 + 0.1
        self.tags = ["new", "active"]
        self.meta = {"rank": i % 7, "ok": True}

class Response:
    def __init__(self, rid):
        self.rid = rid
        self.body = "response %d " % rid + "x" * 100

_leaked = []

def request(rid):
    scratch = [Record(rid), {"q": "query %d" % rid}]  # churn: dies with the request
    _leaked.append(Response(rid))
    return len(scratch)

def main(out, objects, frames):
    if frames:
        tracemalloc.start(frames)
    gc.disable()
    heap = [Record(i) for i in range(objects // 6)]
    gc.enable()
    rid = 0
    for k in (1, 2, 3):
        for _ in range(objects // 100):
            rid += 1
            request(rid)
        heapsnap.dump(os.path.join(out, "d%d.hsnap" % k))
    return heap

main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
'''


def make_dumps(out, objects, frames):
    os.makedirs(out, exist_ok=True)
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", APP, out, str(objects), str(frames)], check=True)
    return time.monotonic() - t


def uncache(dumps):
    for d in dumps:
        if os.path.exists(d + ".db"):
            os.remove(d + ".db")


def timed(cmd):
    """Wall-clock seconds, CPU seconds (user + system) and output of cmd."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    r = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, r.stdout


def objects_in(heapsnap, dump):
    out = subprocess.run([heapsnap, "sql", dump, "SELECT count(*) FROM objects"], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return int(out.split()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--heapsnap", default=shutil.which("heapsnap") or "build/analyzer/heapsnap")
    p.add_argument("--objects", type=int, default=1_000_000)
    p.add_argument("--frames", type=int, default=1, help="tracemalloc frames, 0: off")
    p.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    p.add_argument("--dir", default="/tmp/heapsnap-leaks-bench")
    a = p.parse_args()
    dumps = [os.path.join(a.dir, "d%d.hsnap" % k) for k in (1, 2, 3)]
    uncache(dumps)
    made = make_dumps(a.dir, a.objects, a.frames)
    cmds = {
        "diff": [a.heapsnap, "diff", dumps[0], dumps[2]],
        "diff --new": [a.heapsnap, "diff", dumps[0], dumps[2], "--new"],
        "leaks": [a.heapsnap, "leaks"] + dumps + ["--json"],
    }
    rows = []
    for name, cmd in cmds.items():
        cold = []
        for _ in range(a.runs):
            uncache(dumps)
            cold.append(timed(cmd)[:2])
        warm = [timed(cmd)[:2] for _ in range(a.runs)]
        rows.append((name, [statistics.median(x) for x in zip(*cold)],
                     [statistics.median(x) for x in zip(*warm)]))
    out = timed(cmds["leaks"])[2]
    first = (json.loads(out)["processes"][0]["groups"] or [{}])[0]
    ok = first.get("type") == "__main__.Response" and "_leaked" in (first.get("holder") or {}).get("text", "")
    sizes = [objects_in(a.heapsnap, d) for d in dumps]
    print("three dumps of %s, %s and %s objects (made in %.1f s, tracemalloc %s)"
          % ("{:,}".format(sizes[0]), "{:,}".format(sizes[1]), "{:,}".format(sizes[2]), made,
             "%d frame%s" % (a.frames, "s" if a.frames > 1 else "") if a.frames else "off"))
    print("%-12s %12s %8s %9s %12s %8s %9s" % ("command", "with loads", "/target", "cpu",
                                               "loaded", "/target", "cpu"))
    for name, (cold, cold_cpu), (warm, warm_cpu) in rows:
        print("%-12s %10.2f s %7.0f%% %7.2f s %10.2f s %7.0f%% %7.2f s"
              % (name, cold, 100 * cold / TARGET_COLD, cold_cpu, warm, 100 * warm / TARGET_WARM,
                 warm_cpu))
    print("targets: %.0f s with the loads, %.0f s once loaded (wall clock); median of %d runs;"
          " %d cores, load average %.1f; check: %s"
          % (TARGET_COLD, TARGET_WARM, a.runs, os.cpu_count(), os.getloadavg()[0],
             "the planted leak ranked first" if ok else "FAILED: " + first.get("sentence", "no group")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
