"""Overhead of native allocation tracking (python -m heapsnap run --native)
against the same run without it, on two programs:

  alloc   an allocation-heavy loop: hashlib objects (OpenSSL mallocs and
          frees several blocks each), json and bytes churn, for a fixed time;
          throughput in iterations per second of the process's CPU time
          (not wall time: on a shared machine the wait for a core would
          swamp the difference);
  asyncio the demo service (samples/search_service.py --fixed) under its
          own loopback client load; throughput in requests per second.

Each is run --repeat times alternately untracked and tracked; medians,
and the load average over the runs (the machine may be shared).
Targets: tracked >= 0.7x untracked on alloc, >= 0.95x on asyncio.

    PYTHONPATH=build/python python3 bench/native_bench.py [--seconds 3] [--repeat 3]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE = os.path.join(HERE, "..", "samples", "search_service.py")

ALLOC = r'''
import hashlib, json, sys, time
end = time.monotonic() + float(sys.argv[1])
cpu = time.process_time()
payload = b"x" * 200
n = 0
while time.monotonic() < end:
    for _ in range(100):
        hashlib.sha256(payload).digest()
        hashlib.md5(payload).hexdigest()
        json.dumps({"a": [1, 2, 3], "b": "c" * 50})
        bytes(2000)
    n += 100
print("iterations", n / (time.process_time() - cpu))
'''


def run(prog_args, native, cwd):
    cmd = [sys.executable, "-m", "heapsnap", "run", "--dir", cwd]
    if native:
        cmd.append("--native")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(d) for d in
                                        env.get("PYTHONPATH", "").split(os.pathsep) if d)
    out = subprocess.run(cmd + prog_args, capture_output=True, text=True, cwd=cwd,
                         env=env, check=True).stdout
    return out


def alloc_rate(native, seconds, cwd):
    prog = os.path.join(cwd, "alloc_loop.py")
    with open(prog, "w") as f:
        f.write(ALLOC)
    out = run([prog, str(seconds)], native, cwd)
    return float(re.search(r"iterations (\S+)", out).group(1))


def service_rate(native, seconds, cwd):
    out = run([SERVICE, "--fixed", "--duration", str(seconds)], native, cwd)
    rounds = len(re.findall(r"pending stats tasks", out))
    return rounds * 4 * 50 / seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as cwd:
        print("| program | untracked | tracked (--native) | ratio | target |")
        print("|---------|----------:|-------------------:|------:|-------:|")
        for name, fn, unit, target in (("alloc", alloc_rate, "it/CPU-s", 0.7),
                                       ("asyncio", service_rate, "req/s", 0.95)):
            base, tracked = [], []
            for _ in range(a.repeat):
                base.append(fn(False, a.seconds, cwd))
                tracked.append(fn(True, a.seconds, cwd))
            b, t = statistics.median(base), statistics.median(tracked)
            print("| %s | %.0f %s | %.0f %s | %.2fx | %.2fx %s |"
                  % (name, b, unit, t, unit, t / b, target,
                     "met" if t / b >= target else "NOT met"), flush=True)
        print("1-minute load average %.2f before, %.2f after, %d CPUs"
              % (load, os.getloadavg()[0], os.cpu_count()))


if __name__ == "__main__":
    main()
