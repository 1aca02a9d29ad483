"""Peers side by side: heapsnap against objgraph, Pympler, guppy3, memray
and tracemalloc on the same heaps, one question at a time.

    bench/peers/run.sh [--objects 1000000,5000000] [--timeout 600]

(run.sh makes the virtualenv with the peers and heapsnap, then runs this
file with its python.) Every measurement runs in a fresh interpreter that
builds the same heap, so no tool's memory or time leaks into another's:

  phase 1  a service's heap: Customer records (ints, strs, a float, lists,
           an untracked dict) with one Order each, in a module-global dict;
           a module-global list _sessions holding Session objects (the leak)
  phase 2  requests: each makes garbage and leaks one more Session, the
           last of which is the object asked about in "what keeps it alive"

Questions: "what types dominate" and "what keeps it alive" are asked after
phase 2, "what grew" spans phase 2 (start at its beginning, answer at its
end). Per tool and question:

  in process  the time the live process spends on the question: the tool's
              calls, heapsnap.dump() for heapsnap, the pause of fork() for
              heapsnap (fork), and for tracers (tracemalloc, memray) also
              the slowdown of phase 2 while tracing (its time over phase 2
              without any tool)
  total       from the first call to the answer on screen: the calls, the
              tracers' slowdown, and the offline command (heapsnap top, path
              or diff with the load; memray table --leaks)
  extra       growth of the live process's peak resident set from the end
              of phase 1, over the same growth without any tool (for
              heapsnap (fork) the dump child's copy-on-write is not counted)
  offline     peak resident set of the offline command
  answer      whether the answer is right: str among the first rows of the
              types (the most numerous type of this heap, third by size),
              the _sessions list on the path, Session (memray: open_session)
              at the top of the growth

Targets: heapsnap's pause at least 5 times shorter than every peer's time
in process for the same question; its total shorter than every peer's on
the largest heap.
"""
import argparse
import gc
import importlib
import importlib.metadata
import io
import json
import linecache
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

PAUSE_TARGET = 5.0
QUESTIONS = {"types": "what types dominate", "path": "what keeps it alive",
             "growth": "what grew"}
TOOLS = ["heapsnap", "heapsnap-fork", "objgraph", "pympler", "guppy3", "tracemalloc", "memray"]
# Peers that do not answer a question, and why.
NO_ANSWER = {
    ("types", "tracemalloc"): "allocation sites, not types",
    ("types", "memray"): "allocations, not objects or types",
    ("path", "pympler"): "referrer trees, no path from a root",
    ("path", "tracemalloc"): "no references between objects",
    ("path", "memray"): "no references between objects",
}
TRACERS = {"tracemalloc", "memray"}
PRELOAD = {"heapsnap": ["heapsnap"], "heapsnap-fork": ["heapsnap"],
           "objgraph": ["objgraph"], "pympler": ["pympler.muppy", "pympler.summary",
                                                 "pympler.tracker"],
           "guppy3": ["guppy"], "tracemalloc": ["tracemalloc"], "memray": ["memray"],
           "none": []}
DISTS = ["objgraph", "Pympler", "guppy3", "memray", "heapsnap"]


# ---- the service's heap --------------------------------------------------

class Customer:
    def __init__(self, i):
        self.id = 100_000 + i
        self.name = "customer-%d" % i
        self.email = "c%d@example.com" % i
        self.balance = i * 0.25
        self.tags = ["retail", "eu"]
        self.prefs = {"lang": "en", "rank": i % 7}
        self.orders = []


class Order:
    def __init__(self, i, customer):
        self.id = 500_000_000 + i
        self.customer = customer
        self.total = i * 1.5 + 0.1
        self.lines = [("sku-%d" % (i % 1000), i % 5 + 1)]


class Session:
    def __init__(self, user, rid):
        self.user = user
        self.rid = 1_000_000 + rid
        self.token = "tok-%012x" % (rid * 2654435761)
        self.started = rid * 0.001


OBJECTS_PER_CUSTOMER = 14   # Customer 8 (with its int, strs, float, lists, dict), Order 6
OBJECTS_PER_SESSION = 4     # the instance, its int, str and float

CUSTOMERS = {}
_sessions = []  # the leak: sessions nothing ever closes


def open_session(rid):
    request = {"path": "/api/%d" % rid, "args": [rid, str(rid)]}  # garbage after the request
    _sessions.append(Session(CUSTOMERS[100_000 + rid % len(CUSTOMERS)], rid))
    return len(request)


def build(objects):
    """Phase 1: about 0.9 * objects in customers, 0.03 * objects in sessions."""
    gc.disable()
    for i in range(int(objects * 0.9) // OBJECTS_PER_CUSTOMER):
        c = Customer(i)
        c.orders.append(Order(i, c))
        CUSTOMERS[c.id] = c
    for rid in range(int(objects * 0.03) // OBJECTS_PER_SESSION):
        open_session(rid)
    gc.enable()


def grow(objects):
    """Phase 2: about 0.07 * objects more in leaked sessions."""
    first = len(_sessions)
    for rid in range(first, first + int(objects * 0.07) // OBJECTS_PER_SESSION):
        open_session(rid)


# ---- the tools, inside the live process ----------------------------------
# A hook returns what it found: "answer" (text), "offline" (a command that
# gives the answer from files the hook wrote) and "pause" when the process
# was stopped for less than the hook's whole time.

def _rss_status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no %s in /proc/self/status" % field)


def _heapsnap_bin():
    return os.path.join(sys.prefix, "bin", "heapsnap")


def _dump(st):
    import heapsnap
    path = os.path.join(st["dir"], "d%d.hsnap" % len(st.setdefault("dumps", [])))
    r = heapsnap.dump(path)
    st["dumps"].append(path)
    st["objects"] = r.objects
    return {}


def _fork_dump(st):
    """kill -USR1 to itself, then what a busy service sees: the longest
    stretch its main thread could not run until the dump child started
    writing (its temporary file appears); the child then writes while the
    service runs on."""
    d = st["dir"]
    before = set(os.listdir(d))
    start = last = time.perf_counter()
    pause = 0.0
    os.kill(os.getpid(), signal.SIGUSR1)
    while not set(os.listdir(d)) - before:
        now = time.perf_counter()
        pause, last = max(pause, now - last), now
        if now - start > 600:
            raise TimeoutError("no dump child after 600 s")
    pause = max(pause, time.perf_counter() - last)  # a pause just before the last look
    while True:
        new = [n for n in os.listdir(d)
               if n.endswith(".hsnap") and not n.startswith(".") and n not in before]
        if new:
            st.setdefault("dumps", []).append(os.path.join(d, new[0]))
            return {"pause": pause}
        if time.perf_counter() - start > 600:
            raise TimeoutError("no dump from the fork child after 600 s")
        time.sleep(0.001)


def _hs_top(st):
    return {"offline": [_heapsnap_bin(), "top", st["dumps"][-1], "-n", "10"]}


def _hs_path(st):
    return {"offline": [_heapsnap_bin(), "path", st["dumps"][-1], st["target"]]}


def _hs_diff(st):
    return {"offline": [_heapsnap_bin(), "diff", st["dumps"][0], st["dumps"][1], "-n", "10"]}


def _objgraph_types(st):
    import objgraph
    buf = io.StringIO()
    objgraph.show_most_common_types(limit=10, file=buf)
    return {"answer": buf.getvalue()}


def _objgraph_path(st):
    import objgraph
    chain = objgraph.find_backref_chain(_sessions[-1], objgraph.is_proper_module)
    text = " -> ".join(o.__name__ if type(o).__name__ == "module" else type(o).__name__
                       for o in chain)
    # the answer is right when the chain runs through the module's list
    return {"answer": text + ("  (_sessions)" if any(o is _sessions for o in chain) else "")}


def _objgraph_growth(st):
    import objgraph
    buf = io.StringIO()
    objgraph.show_growth(limit=10, file=buf)
    return {"answer": buf.getvalue()}


def _pympler_types(st):
    from pympler import muppy, summary
    rows = summary.summarize(muppy.get_objects())
    return {"answer": "\n".join(summary.format_(rows, limit=10))}


def _pympler_start(st):
    from pympler import tracker
    st["tracker"] = tracker.SummaryTracker()
    return {}


def _pympler_growth(st):
    return {"answer": "\n".join(st.pop("tracker").format_diff())}


def _guppy_types(st):
    import guppy
    return {"answer": str(guppy.hpy().heap())}


def _guppy_path(st):
    import guppy
    return {"answer": str(guppy.hpy().iso(_sessions[-1]).sp)}


def _guppy_start(st):
    import guppy
    st["hpy"] = guppy.hpy()
    st["hpy"].setrelheap()
    return {}


def _guppy_growth(st):
    return {"answer": str(st.pop("hpy").heap())}


def _tracemalloc_start(st):
    import tracemalloc
    tracemalloc.start(1)
    st["snapshot"] = tracemalloc.take_snapshot()
    return {}


def _tracemalloc_growth(st):
    import tracemalloc
    stats = tracemalloc.take_snapshot().compare_to(st.pop("snapshot"), "lineno")
    tracemalloc.stop()
    lines = []
    for s in stats[:10]:
        frame = s.traceback[0]
        lines.append("%s  %s" % (s, linecache.getline(frame.filename, frame.lineno).strip()))
    return {"answer": "\n".join(lines)}


def _memray_start(st):
    import memray
    st["capture"] = os.path.join(st["dir"], "growth.memray")
    st["tracker"] = memray.Tracker(st["capture"], trace_python_allocators=True)
    st["tracker"].__enter__()
    return {}


def _memray_growth(st):
    st.pop("tracker").__exit__(None, None, None)
    html = os.path.join(st["dir"], "leaks.html")
    return {"offline": [os.path.join(sys.prefix, "bin", "memray"), "table", "--leaks", "-f",
                        "-o", html, st["capture"]], "html": html}


# (tool, question): (hook at the end of phase 1 or None, hook after phase 2)
HOOKS = {
    ("heapsnap", "types"): [None, _dump, _hs_top],
    ("heapsnap", "path"): [None, _dump, _hs_path],
    ("heapsnap", "growth"): [_dump, _dump, _hs_diff],
    ("heapsnap-fork", "types"): [None, _fork_dump, _hs_top],
    ("heapsnap-fork", "path"): [None, _fork_dump, _hs_path],
    ("heapsnap-fork", "growth"): [_fork_dump, _fork_dump, _hs_diff],
    ("objgraph", "types"): [None, _objgraph_types],
    ("objgraph", "path"): [None, _objgraph_path],
    ("objgraph", "growth"): [_objgraph_growth, _objgraph_growth],
    ("pympler", "types"): [None, _pympler_types],
    ("pympler", "growth"): [_pympler_start, _pympler_growth],
    ("guppy3", "types"): [None, _guppy_types],
    ("guppy3", "path"): [None, _guppy_path],
    ("guppy3", "growth"): [_guppy_start, _guppy_growth],
    ("tracemalloc", "growth"): [_tracemalloc_start, _tracemalloc_growth],
    ("memray", "growth"): [_memray_start, _memray_growth],
    ("none", "growth"): [None],
}


def run_hook(hook, st, out):
    gc.collect()  # the build's garbage is nobody's cost
    t = time.perf_counter()
    r = hook(st)
    wall = time.perf_counter() - t
    out["wall"] += wall
    out["pause"] += r.get("pause", wall)
    for k in ("answer", "offline", "html"):
        if k in r:
            out[k] = r[k]


def child(tool, question, objects, d):
    """One measurement; prints its result as one JSON line."""
    for m in PRELOAD[tool]:
        importlib.import_module(m)
    st = {"dir": d}
    if tool == "heapsnap-fork":
        import heapsnap
        heapsnap.install(signal="USR1", dir=d, fork=True, keep=0)
    build(objects)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak resident set starts again from here
    rss0 = _rss_status("VmRSS")
    out = {"wall": 0.0, "pause": 0.0}
    hooks = HOOKS[(tool, question)]
    if hooks[0]:
        run_hook(hooks[0], st, out)
    t = time.perf_counter()
    grow(objects)
    out["phase2"] = time.perf_counter() - t
    st["target"] = hex(id(_sessions[-1]))  # an address: a local would be a root
    for hook in hooks[1:]:
        run_hook(hook, st, out)
    out["growth"] = _rss_status("VmHWM") - rss0
    out["objects"] = st.get("objects")
    if "answer" in out:
        out["answer"] = out["answer"][:4000]
    print(json.dumps(out))


# ---- the orchestra --------------------------------------------------------

def timed_run(cmd, timeout, out_path):
    """Runs cmd with stdout to out_path; (wall seconds, peak RSS bytes,
    status) where status is None, "timeout (N s)" or "failed: <last line>"."""
    expired = threading.Event()
    with open(out_path, "w") as out, open(out_path + ".err", "w") as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        killer = threading.Timer(timeout, lambda: (expired.set(), p.kill()))
        killer.start()
        _, status, usage = os.wait4(p.pid, 0)  # wait4: the child's own peak RSS
        killer.cancel()
        wall = time.perf_counter() - t
    code = p.returncode = os.waitstatus_to_exitcode(status)
    if expired.is_set():
        return wall, 0, "timeout (%g s)" % timeout
    if code:
        with open(out_path + ".err") as f:
            last = ([ln.strip() for ln in f if ln.strip()] or ["exit %d" % code])[-1]
        return wall, 0, "failed: " + last[:120]
    return wall, usage.ru_maxrss * 1024, None


def measure(tool, question, objects, args):
    d = os.path.join(args.dir, "%d-%s-%s" % (objects, question, tool))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", tool, question,
           "--objects", str(objects), "--dir", d]
    _, _, status = timed_run(cmd, args.timeout, os.path.join(d, "child.json"))
    if status:
        return {"status": status}
    with open(os.path.join(d, "child.json")) as f:
        r = json.loads(f.read().strip().splitlines()[-1])
    r["offline_s"] = r["offline_rss"] = 0
    if "offline" in r:
        out = os.path.join(d, "offline.txt")
        r["offline_s"], r["offline_rss"], status = timed_run(r["offline"], args.timeout, out)
        if status:
            return {"status": "offline " + status}
        with open(r.get("html", out), errors="replace") as f:
            r["answer"] = f.read()
    r["found"] = right(question, r.get("answer", ""), "html" in r)
    shutil.rmtree(d, ignore_errors=True)  # dumps and databases reach gigabytes
    return r


def right(question, answer, html):
    """Whether an answer points at what the heap was built to show."""
    if html:  # memray's table: its rows are in the page as JSON
        rows = json.loads(re.search(r"const packed_data = (\[.*?\]);?\n", answer).group(1))
        top = sorted(rows, key=lambda row: -row["size"])[:3]
        return any("open_session" in row["stack_trace"] for row in top)
    head = answer.splitlines()[:8]  # a header and the first rows
    if question == "types":
        return any(re.search(r"(^|[\s|'])str($|[\s|'])", line) for line in head)
    if question == "path":
        return "_sessions" in answer
    return any("Session" in line for line in head)


def fmt_s(x):
    return "%.3f s" % x if x < 1 else "%.2f s" % x if x < 100 else "%.0f s" % x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", default="1000000,5000000",
                    help="heap sizes, comma-separated (default 1000000,5000000)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds per tool and question (default 600)")
    ap.add_argument("--questions", default=",".join(QUESTIONS))
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--dir", default="/tmp/heapsnap-peers")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.objects), args.dir)
        return 0
    if not os.access(_heapsnap_bin(), os.X_OK):
        sys.exit("peers.py: no %s: run bench/peers/run.sh (it makes the virtualenv)"
                 % _heapsnap_bin())
    sizes = [int(x) for x in args.objects.split(",")]
    questions = args.questions.split(",")
    tools = args.tools.split(",")
    os.makedirs(args.dir, exist_ok=True)
    results = {}
    for n in sizes:
        base = measure("none", "growth", n, args)
        if "status" in base:
            sys.exit("peers.py: the heap alone failed: %s" % base["status"])
        for q in questions:
            for tool in tools:
                if (q, tool) in NO_ANSWER:
                    continue
                sys.stderr.write("%s objects, %s, %s ...\n" % ("{:,}".format(n), q, tool))
                r = measure(tool, q, n, args)
                if "status" not in r:
                    r["extra"] = r["growth"] - base["growth"]
                    if tool in TRACERS:  # their cost is also a slower service
                        slow = max(0.0, r["phase2"] - base["phase2"])
                        r["pause"] += slow
                        r["wall"] += slow
                    r["total"] = r["wall"] + r["offline_s"]
                results[(n, q, tool)] = r
        with open(os.path.join(args.dir, "results.json"), "w") as f:
            json.dump({"%d %s %s" % k: v for k, v in results.items()}, f, indent=1)
    report(results, sizes, questions, tools)
    return 0


def report(results, sizes, questions, tools):
    versions = ", ".join("%s %s" % (dist, importlib.metadata.version(dist))
                         for dist in DISTS)
    print("CPython %s, %d cores, load average %.1f; %s"
          % (sys.version.split()[0], os.cpu_count(), os.getloadavg()[0], versions))
    for n in sizes:
        counted = results.get((n, "types", "heapsnap"), {}).get("objects")
        if counted:
            print("%gM heap: %s objects in heapsnap's dump" % (n / 1e6, "{:,}".format(counted)))
    print()
    print("| heap | question | tool | in process | total | extra | offline RSS "
          "| heapsnap/peer in process (dump · fork) | heapsnap/peer total | answer |")
    print("|---|---|---|--:|--:|--:|--:|--:|--:|---|")
    verdict = []
    for n in sizes:
        size = "%gM" % (n / 1e6)
        for q in questions:
            hs, fk = results.get((n, q, "heapsnap"), {}), results.get((n, q, "heapsnap-fork"), {})
            worst_dump = worst_fork = worst_total = 0.0
            peers = 0
            for tool in tools:
                r = results.get((n, q, tool))
                if r is None:
                    continue
                name = "heapsnap (fork)" if tool == "heapsnap-fork" else tool
                if "status" in r:
                    print("| %s | %s | %s | %s | | | | | | |" % (size, QUESTIONS[q], name, r["status"]))
                    continue
                ratios = ["", ""]
                if not tool.startswith("heapsnap") and "total" in hs and "total" in fk:
                    dump, fork = hs["pause"] / r["pause"], fk["pause"] / r["pause"]
                    ratios = ["%.3f · %.3f" % (dump, fork), "%.2f" % (hs["total"] / r["total"])]
                    worst_dump, worst_fork = max(worst_dump, dump), max(worst_fork, fork)
                    worst_total = max(worst_total, hs["total"] / r["total"])
                    peers += 1
                print("| %s | %s | %s | %s | %s | %.0f MiB | %s | %s | %s | %s |" % (
                    size, QUESTIONS[q], name, fmt_s(r["pause"]), fmt_s(r["total"]),
                    max(0.0, r["extra"]) / 2**20,  # below the baseline: noise
                    "%.0f MiB" % (r["offline_rss"] / 2**20) if r["offline_rss"] else "—",
                    ratios[0], ratios[1], "yes" if r["found"] else "no"))
            if peers:
                verdict.append((size, QUESTIONS[q], worst_dump, worst_fork, worst_total,
                                n == max(sizes)))
    print()
    silent = ["%s to '%s' (%s)" % (tool, QUESTIONS[q], why)
              for (q, tool), why in NO_ANSWER.items() if q in questions and tool in tools]
    if silent:
        print("No answer: " + "; ".join(silent) + ".")
    print("A peer that timed out or failed counts as slower than heapsnap.")
    limit = 1 / PAUSE_TARGET
    for size, q, dump, fork, total, largest in verdict:
        print("%s, %s: pause ≤ %.2f of every peer's: fork %s (worst %.3f), in-process dump %s"
              " (worst %.3f); total %s (worst %.2f)%s"
              % (size, q, limit, "met" if fork <= limit else "MISSED", fork,
                 "met" if dump <= limit else "MISSED", dump,
                 "shorter than every peer's" if total < 1 else "NOT shorter", total,
                 "" if largest else " (target on the largest heap only)"))


if __name__ == "__main__":
    sys.exit(main())
