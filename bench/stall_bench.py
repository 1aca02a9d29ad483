"""Stall figures: how long a service stops answering while heapsnap dumps it
(fork mode against in-process), next to a bare fork(), and the extra memory
of the dump child.

    PYTHONPATH=build/python python3 bench/stall_bench.py [--gib 1 4]
        [--dir /tmp] [--no-gc-walk]

For each heap size a service process builds a heap of small records
(bench/dump_bench.py's) until its resident set reaches the size, installs
heapsnap (signal SIGUSR1) and answers UDP pings on its main thread, which
waits in recvfrom() with the GIL released, as a server waits in epoll. This
process pings it over loopback every millisecond (one ping in flight) and
takes, for each event, the longest round trip from the event's start to its
end:

  bare fork()    os.fork() in the service, the child leaving at once: its
                 time in the service and the stall
  fork dump      SIGUSR1 with install(fork=True), until the dump's log line
                 (bare fork() and fork dump in turns, --repeat times each;
                 medians)
  in-process     SIGUSR1 with install(fork=False)
  incref walk    (not a dump) a fork()ed child that takes gc.get_objects()
                 and keeps it: every tracked object's refcount is written,
                 as a pure-Python dumper in a child would

Child extra memory is the highest Private_Dirty of the dump child's
/proc/PID/smaps_rollup (sampled every 10 ms) over the service's resident
set: pages copied on write, the dumper's own tables (the "its tables"
column, from the dump's log line), and pages the service itself wrote
meanwhile (the child then keeps the old copy).
"""
import argparse
import array
import bisect
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dump_bench import build  # noqa: E402

GIB = 1 << 30
MIB = 1 << 20


# ---- the service ---------------------------------------------------------

def rss_of(pid="self"):
    with open("/proc/%s/statm" % pid) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def serve(gib, dump_dir):
    import gc
    import heapsnap
    heap = []
    while rss_of() < gib * GIB:
        heap.append(build(600_000))
    gc.collect()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def commands():
        for line in sys.stdin:
            cmd = line.split()
            if cmd[0] == "install":
                heapsnap.install(dir=dump_dir, fork=cmd[1] == "fork", keep=1)
                reply = "ok"
            elif cmd[0] == "fork":
                t0 = time.perf_counter()
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                reply = "%.6f" % (time.perf_counter() - t0)
                os.waitpid(pid, 0)
            elif cmd[0] == "gcwalk":
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    held = gc.get_objects()
                    os.write(w, b"1")
                    time.sleep(5)
                    os._exit(len(held) and 0)
                os.read(r, 1)
                reply = str(private_dirty(pid))
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(r)
                os.close(w)
            else:
                os._exit(0)
            print(reply, flush=True)

    threading.Thread(target=commands, daemon=True).start()
    print("ready %d %d %d" % (sock.getsockname()[1], rss_of(),
                              len(heap) * 600_000), flush=True)
    while True:
        data, addr = sock.recvfrom(64)
        sock.sendto(data, addr)


# ---- the measuring side --------------------------------------------------

class Pinger(threading.Thread):
    """Pings the service every PACE seconds (one ping in flight); keeps the
    send times and round trips in flat arrays (no garbage to collect)."""
    PACE = 0.001

    def __init__(self, port):
        super().__init__(daemon=True)
        self.addr = ("127.0.0.1", port)
        self.sent, self.rtt = array.array("d"), array.array("d")
        self.running = True

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(120)
        while self.running:
            t0 = time.perf_counter()
            s.sendto(b"ping", self.addr)
            s.recvfrom(64)
            t1 = time.perf_counter()
            self.sent.append(t0)
            self.rtt.append(t1 - t0)
            time.sleep(max(0.0, self.PACE - (t1 - t0)))

    def longest(self, start, end):
        """The longest round trip of a ping sent in [start, end] or still
        in flight at start."""
        i = bisect.bisect_left(self.sent, start - 120)
        return max((r for t, r in zip(self.sent[i:], self.rtt[i:])
                    if t <= end and t + r >= start), default=0.0)


def children(pid):
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % p) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    return out


def private_dirty(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Service:
    def __init__(self, gib, dump_dir):
        self.p = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(gib), "--dir", dump_dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1)
        self.log = []
        threading.Thread(target=self._read_log, daemon=True).start()
        ready = self.p.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise SystemExit("the service did not start: %s" % "".join(self.log))
        self.port, self.rss, self.objects = map(int, ready[1:])

    def _read_log(self):
        for line in self.p.stderr:
            self.log.append(line)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        return self.p.stdout.readline().strip()

    def stop(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        self.p.wait(30)


def dump(svc, ping, sample):
    """(longest round trip, the child's peak Private_Dirty if sample, the
    log line) of one dump on SIGUSR1."""
    time.sleep(0.5)
    n = len(svc.log)
    start = time.perf_counter()
    os.kill(svc.p.pid, signal.SIGUSR1)
    peak = 0
    while len(svc.log) == n:
        if sample:
            peak = max([peak] + [private_dirty(c) for c in children(svc.p.pid)])
        time.sleep(0.01)
    end = time.perf_counter()
    time.sleep(0.1)
    line = svc.log[n].strip()
    if "dump written" not in line:
        raise SystemExit("dump failed: %s" % line)
    return ping.longest(start, end), peak, line


def measure(gib, args):
    svc = Service(gib, args.dir)
    ping = Pinger(svc.port)
    ping.start()
    time.sleep(1.0)
    r = {"gib": gib, "rss": svc.rss, "objects": svc.objects,
         "base": ping.longest(time.perf_counter() - 0.9, time.perf_counter())}
    # bare fork() and fork dumps in turns, so both meet the same load
    svc.ask("install fork")
    forks, fork_stalls, dump_stalls = [], [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        forks.append(float(svc.ask("fork")))
        fork_stalls.append(ping.longest(start, time.perf_counter()))
        # without sampling the child: its page tables take long to read
        stall, _, r["fork_line"] = dump(svc, ping, False)
        dump_stalls.append(stall)
    r["fork"] = statistics.median(forks)
    r["fork_stall"] = statistics.median(fork_stalls)
    r["fork_dump"] = statistics.median(dump_stalls)
    _, r["fork_dirty"], _ = dump(svc, ping, True)
    svc.ask("install inprocess")
    r["inproc_dump"], _, r["inproc_line"] = dump(svc, ping, False)
    if args.gc_walk:
        r["walk_dirty"] = int(svc.ask("gcwalk"))
    ping.running = False
    svc.stop()
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gib", type=float, nargs="+", default=[1, 4])
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--repeat", type=int, default=3,
                    help="bare fork() and fork dumps per heap (medians)")
    ap.add_argument("--gc-walk", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure a gc.get_objects() walk in a fork()ed child")
    ap.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.dir)
        return
    args.dir = os.path.join(os.path.abspath(args.dir), "stall_bench.%d" % os.getpid())
    os.makedirs(args.dir)
    rows = [measure(g, args) for g in args.gib]
    for f in os.listdir(args.dir):
        os.unlink(os.path.join(args.dir, f))
    os.rmdir(args.dir)

    print("python %s, %d cores; stalls: the longest ping round trip (ms)"
          % (sys.version.split()[0], os.cpu_count()))
    head = ("heap RSS", "objects", "idle", "fork()", "fork()", "fork dump",
            "/fork()", "/fork()", "in-process", "child", "its", "incref")
    head2 = ("", "", "stall", "time", "stall", "stall", "time", "stall", "stall",
             "Priv_Dirty", "tables", "walk")
    fmt = "%-9s %8s %6s %7s %7s %9s %8s %8s %10s %10s %7s %7s"
    print(fmt % head)
    print(fmt % head2)
    for r in rows:
        tables = float(re.search(r"([0-9.]+) MiB of tables", r["fork_line"]).group(1)) * MIB
        print(fmt % (
            "%.2f GiB" % (r["rss"] / GIB), "%.1fM" % (r["objects"] / 1e6),
            "%.1f" % (r["base"] * 1e3), "%.1f" % (r["fork"] * 1e3),
            "%.1f" % (r["fork_stall"] * 1e3), "%.1f" % (r["fork_dump"] * 1e3),
            "%.2fx" % (r["fork_dump"] / r["fork"]),
            "%.2fx" % (r["fork_dump"] / r["fork_stall"]),
            "%.0f" % (r["inproc_dump"] * 1e3),
            "%.1f%%" % (100 * r["fork_dirty"] / r["rss"]),
            "%.1f%%" % (100 * tables / r["rss"]),
            "%.1f%%" % (100 * r["walk_dirty"] / r["rss"]) if "walk_dirty" in r else "-"))
    print()
    for r in rows:
        print("%.2f GiB, fork:       %s" % (r["rss"] / GIB, r["fork_line"]))
        print("%.2f GiB, in-process: %s" % (r["rss"] / GIB, r["inproc_line"]))
    print()
    print("targets: fork dump stall <= 1.2x bare fork() time (%s); child "
          "Private_Dirty <= 5%% of RSS (%s)" % (
              ", ".join("%.2fx" % (r["fork_dump"] / r["fork"]) for r in rows),
              ", ".join("%.1f%%" % (100 * r["fork_dirty"] / r["rss"]) for r in rows)))


if __name__ == "__main__":
    main()
