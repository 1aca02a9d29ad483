"""Pause figures of 'heapsnap attach' against a bare fork() of the same
process, and N attaches in a row to a service under load.

    python3 bench/attach_bench.py [--heapsnap build/analyzer/heapsnap]
        [--gib 0.5 2] [--repeat 5] [--loops 200] [--dir /tmp]

For each heap size a service that never imports heapsnap builds a heap of
small records (bench/dump_bench.py's) until its resident set reaches the
size, then answers UDP pings on its main thread, which waits in recvfrom()
with the GIL released, as a server waits in epoll. This process pings it
every millisecond (one ping in flight, stall_bench.py's pinger) and takes
the longest round trip during each event, in turns:

  bare fork()   os.fork() in the service, the child leaving at once
  attach        heapsnap attach PID; also the pause the attacher measured
                (first thread stopped to last thread resumed) and its fork

and prints the medians with attach's ratio to the bare fork (target: pause
<= 1.5x). With --loops N it then attaches N times in a row to the smallest
heap while the pings go on, runs 'heapsnap verify' on every dump, and
counts failed attaches, dumps that do not verify, pings slower than a
second and whether the service survived.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dump_bench import build  # noqa: E402
from stall_bench import GIB, Pinger, rss_of  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def serve(gib):
    """The service: no heapsnap anywhere."""
    import gc
    heap = []
    while rss_of() < gib * GIB:
        heap.append(build(600_000))
    gc.collect()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def commands():
        for line in sys.stdin:
            if line.startswith("fork"):
                t0 = time.perf_counter()
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                print("%.6f" % (time.perf_counter() - t0), flush=True)
                os.waitpid(pid, 0)
            else:
                os._exit(0)

    threading.Thread(target=commands, daemon=True).start()
    print("ready %d %d %d" % (sock.getsockname()[1], rss_of(),
                              len(heap) * 600_000), flush=True)
    while True:
        data, addr = sock.recvfrom(64)
        sock.sendto(data, addr)


class Service:
    def __init__(self, gib):
        self.p = subprocess.Popen([sys.executable, __file__, "--serve", str(gib)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        ready = self.p.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise SystemExit("the service did not start")
        self.port, self.rss, self.objects = map(int, ready[1:])

    def fork(self):
        self.p.stdin.write("fork\n")
        return float(self.p.stdout.readline())

    def stop(self):
        self.p.kill()
        self.p.wait()


def attach(args, pid, out):
    r = subprocess.run([args.heapsnap, "attach", str(pid), "-o", out, "--json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return json.loads(r.stdout), ""


def measure(gib, args):
    svc = Service(gib)
    ping = Pinger(svc.port)
    ping.start()
    time.sleep(1.0)
    out = os.path.join(args.dir, "attach_bench.hsnap")
    forks, fork_stalls, stalls, pauses, afork = [], [], [], [], []
    for _ in range(args.repeat):
        time.sleep(0.3)
        start = time.perf_counter()
        forks.append(svc.fork())
        fork_stalls.append(ping.longest(start, time.perf_counter()))
        time.sleep(0.3)
        start = time.perf_counter()
        res, err = attach(args, svc.p.pid, out)
        if not res:
            raise SystemExit("attach failed: %s" % err)
        stalls.append(ping.longest(start, time.perf_counter()))
        pauses.append(res["pause_ms"] / 1e3)
        afork.append(res["fork_ms"] / 1e3)
    ping.running = False
    svc.stop()
    os.unlink(out)
    return {"gib": gib, "rss": svc.rss, "objects": res["objects"],
            "fork": statistics.median(forks),
            "fork_stall": statistics.median(fork_stalls),
            "stall": statistics.median(stalls),
            "pause": statistics.median(pauses),
            "attach_fork": statistics.median(afork)}


def loops(args):
    svc = Service(min(args.gib))
    ping = Pinger(svc.port)
    ping.start()
    time.sleep(0.5)
    out = os.path.join(args.dir, "attach_loop.hsnap")
    failed = unverified = 0
    attaches, verifies = [], []
    objects = 0
    t0 = time.perf_counter()
    for i in range(args.loops):
        start = time.perf_counter()
        res, err = attach(args, svc.p.pid, out)
        attaches.append(time.perf_counter() - start)
        if not res:
            failed += 1
            print("attach %d: %s" % (i + 1, err), file=sys.stderr)
            continue
        objects = res["objects"]
        start = time.perf_counter()
        v = subprocess.run([args.heapsnap, "verify", out], capture_output=True)
        verifies.append(time.perf_counter() - start)
        unverified += v.returncode != 0
    took = time.perf_counter() - t0
    alive = svc.p.poll() is None
    slow = sum(1 for r in ping.rtt if r > 1.0)
    n = len(ping.rtt)
    ping.running = False
    worst = max(ping.rtt)
    svc.stop()
    os.unlink(out)
    print("%d attaches in a row in %.1f s (%.0f objects; median attach %.0f ms, verify "
          "%.0f ms): %d failed, %d dumps not verified; service %s; %d pings, %d slower "
          "than 1 s, longest %.1f ms"
          % (args.loops, took, objects, statistics.median(attaches) * 1e3,
             statistics.median(verifies or [0]) * 1e3, failed, unverified,
             "alive" if alive else "GONE", n, slow, worst * 1e3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--heapsnap", default=os.path.join(HERE, "..", "build", "analyzer",
                                                        "heapsnap"))
    ap.add_argument("--gib", type=float, nargs="+", default=[0.5, 2])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--loops", type=int, default=0)
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print("| heap RSS | objects | bare fork() | its stall | attach stall | attach pause "
          "| attach's fork | pause / bare fork |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for gib in args.gib:
        r = measure(gib, args)
        print("| %.2f GiB | %.1fM | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.2fx |"
              % (r["rss"] / GIB, r["objects"] / 1e6, r["fork"] * 1e3,
                 r["fork_stall"] * 1e3, r["stall"] * 1e3, r["pause"] * 1e3,
                 r["attach_fork"] * 1e3, r["pause"] / r["fork"]), flush=True)
    if args.loops:
        loops(args)


if __name__ == "__main__":
    main()
