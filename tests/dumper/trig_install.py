"""heapsnap.install() from Python: argument checks, periodic and RSS
dumps, prefork workers with their own files, an unwritable directory, a
signal during a collection, and uninstall() giving the signal back. Exits
non-zero on a mismatch.

usage: trig_install.py DIR
"""
import gc
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings

import heapsnap


def dumps(d, pid=None):
    if not os.path.isdir(d):
        return []
    return sorted(n for n in os.listdir(d) if n.endswith(".hsnap") and
                  (pid is None or "-%d-" % pid in n))


def state():
    # Read by another process: closing any descriptor of the file in this
    # one would drop the handler's POSIX lock on it, and then any process
    # installing a handler removes the file as stale.
    path = "/tmp/heapsnap-%d/%d" % (os.geteuid(), os.getpid())
    return subprocess.run(["cat", path], capture_output=True, text=True).stdout


def wait_for(cond, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def bad_arguments(d):
    for kw, what in [({"signal": "SIGNOPE"}, "unknown signal"),
                     ({"signal": "KILL"}, "SIGKILL cannot"),
                     ({"rss_limit": "2XB"}, "rss_limit must be"),
                     ({"rss_limit": -5}, "rss_limit must be positive"),
                     ({"interval": "10 fortnights"}, "interval must be"),
                     ({"keep": -1}, "keep must be"),
                     ({"values": "all"}, "values must be"),
                     ({"signal": None}, "nothing would trigger")]:
        try:
            heapsnap.install(dir=d, **kw)
        except ValueError as e:
            assert what in str(e), (kw, e)
        else:
            raise AssertionError("install(%r) passed" % kw)
    assert heapsnap._env_settings("signal=USR2, dir=/x,rss_limit=2GiB,fork=0,keep=3") == \
        {"signal": "USR2", "dir": "/x", "rss_limit": "2GiB", "fork": False, "keep": 3}
    assert heapsnap._env_settings("1") == {}


def periodic(d):
    heapsnap.install(signal=None, dir=d, interval="300ms", keep=3)
    assert wait_for(lambda: len(dumps(d)) >= 1), dumps(d)
    # an earlier process's dump by the same name (pid 1 of a restarted
    # container): not this process's to rotate away
    older = re.sub(r"[0-9T]+Z-[0-9]+[.]hsnap$", "19700101T000000Z-0001.hsnap", dumps(d)[0])
    open(os.path.join(d, older), "w").close()
    assert wait_for(lambda: len(dumps(d)) >= 4), dumps(d)
    time.sleep(0.7)
    heapsnap.uninstall()
    assert len(dumps(d)) == 4 and older in dumps(d), dumps(d)  # keep=3
    n = dumps(d)
    time.sleep(0.7)
    assert dumps(d) == n, "dumps after uninstall()"


def rss_steps(d):
    limit = rss() + (40 << 20)
    heapsnap.install(signal=None, dir=d, rss_limit=limit)
    time.sleep(1.2)
    assert dumps(d) == [], "dumped below the limit"
    grow = [b"\x01" * (50 << 20)]
    assert wait_for(lambda: len(dumps(d)) == 1, 5), dumps(d)
    time.sleep(1.2)
    assert len(dumps(d)) == 1, "dumped again below the next step"
    grow.append(b"\x02" * (rss() * 6 // 10))  # past limit * 1.5
    assert wait_for(lambda: len(dumps(d)) == 2, 5), dumps(d)
    heapsnap.uninstall()
    return grow


def prefork(d):
    heapsnap.install(dir=d)
    workers = []
    for _ in range(2):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # a worker: waits for its own dump
            os.close(r)
            ok = wait_for(lambda: len(dumps(d, os.getpid())) == 1)
            ok = ok and "pid %d\n" % os.getpid() in state()
            os.write(w, b"1" if ok else b"0")
            os._exit(0 if ok else 1)
        os.close(w)
        workers.append((pid, r))
    for pid, r in workers:  # once its at-fork hook has run
        assert wait_for(lambda: os.path.exists("/tmp/heapsnap-%d/%d" % (os.geteuid(), pid)))
        os.kill(pid, signal.SIGUSR1)
    for pid, r in workers:
        assert os.read(r, 1) == b"1", "worker %d did not dump to its own file" % pid
        assert os.waitpid(pid, 0)[1] == 0
    assert dumps(d, os.getpid()) == [], "the parent dumped for its workers"
    heapsnap.uninstall()


def unwritable(d):
    open(os.path.join(d, "file"), "w").close()
    heapsnap.install(dir=os.path.join(d, "file", "sub"))
    os.kill(os.getpid(), signal.SIGUSR1)
    assert wait_for(lambda: "\nlast error" in state()), state()
    assert "Not a directory" in state(), state()
    heapsnap.install(dir=d, fork=False)
    os.kill(os.getpid(), signal.SIGUSR1)
    assert wait_for(lambda: "\nlast ok" in state()), state()
    assert len(dumps(d)) == 1
    heapsnap.uninstall()


class Slow:
    def __del__(self):
        time.sleep(0.02)  # lets other threads take the GIL mid-collection


def during_collection(d):
    heapsnap.install(dir=d)
    for _ in range(40):
        a = Slow()
        a.me = a  # a cycle: only the collector frees it
    del a
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
    gc.collect()  # 0.8 s of finalizers
    assert wait_for(lambda: "\nlast " in state()), state()
    assert "\nlast ok" in state(), state()
    heapsnap.uninstall()


def gives_signal_back(d):
    got = []
    signal.signal(signal.SIGUSR2, lambda *a: got.append(1))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        heapsnap.install(signal="USR2", dir=d)
    assert w and "replaces the Python handler of SIGUSR2" in str(w[0].message), w
    heapsnap.uninstall()
    assert not os.path.exists("/tmp/heapsnap-%d/%d" % (os.geteuid(), os.getpid()))
    os.kill(os.getpid(), signal.SIGUSR2)
    assert wait_for(lambda: got), "the Python handler was not given back"


def run_errors(d):
    """'python -m heapsnap run' names a missing program in one line, exit 2."""
    for program, message in ((["missing.py"], "cannot open 'missing.py': No such file"),
                             (["-m", "no_such_module_x"], "no module named 'no_such_module_x'")):
        p = subprocess.run([sys.executable, "-m", "heapsnap", "run", "--dir", d] + program,
                           cwd=d, capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (program, p.returncode, p.stderr)
        assert message in p.stderr and "Traceback" not in p.stderr, p.stderr


def main(top):
    parts = [os.path.join(top, p) for p in ("bad", "periodic", "rss", "prefork", "unw",
                                            "gc", "usr2", "run")]
    for p in parts:
        os.mkdir(p)
    bad_arguments(parts[0])
    periodic(parts[1])
    rss_steps(parts[2])
    prefork(parts[3])
    unwritable(parts[4])
    during_collection(parts[5])
    gives_signal_back(parts[6])
    run_errors(parts[7])


if __name__ == "__main__":
    main(sys.argv[1])
