"""Roots: a second thread blocked in a known function, and a bound method
that only atexit's C-level list keeps alive. Dumps and writes:

usage: roots.py DUMP VIEW

  held ID                  the bound method held by atexit only
  thread IDENT NAME LINE   the worker thread and the line it waits on
  local ID                 a local variable of the worker's frame
  main IDENT               the main thread
  modules N ID             modules in sys.modules; the threading module
  atexit K N               the held method is atexit's callback K of N
  signal ID MINOR          the SIGUSR2 handler; Python's minor version
"""
import atexit
import signal
import sys
import threading
import time

import heapsnap


class Held:
    def close(self):
        pass


shared = []


def blocked_worker(started, ev):
    worker_local = ["worker-local"]
    shared.append(id(worker_local))
    started.set()
    ev.wait()
    return worker_local


WAIT_LINE = blocked_worker.__code__.co_firstlineno + 4


def waiting(t):
    f = sys._current_frames().get(t.ident)
    inner = f
    while f and f.f_code is not blocked_worker.__code__:
        f = f.f_back
    return f is not None and f is not inner and f.f_lineno == WAIT_LINE


def on_usr2(signum, frame):
    pass


def main(dump_path, view_path):
    m = Held().close
    atexit.register(m)
    held = id(m)
    del m
    signal.signal(signal.SIGUSR2, on_usr2)
    started, ev = threading.Event(), threading.Event()
    t = threading.Thread(target=blocked_worker, args=(started, ev),
                         name="worker-A")
    t.start()
    started.wait()
    while not waiting(t):  # until the worker is inside ev.wait()
        time.sleep(0.001)
    nmods = sum(1 for v in list(sys.modules.values()) if v is not None)
    heapsnap.dump(dump_path)
    with open(view_path, "w") as f:
        f.write("modules %d %x\n" % (nmods, id(threading)))
        f.write("held %x\n" % held)
        f.write("atexit %d %d\n" % (atexit._ncallbacks(), atexit._ncallbacks()))
        f.write("signal %x %d\n" % (id(on_usr2), sys.version_info[1]))
        f.write("thread %d worker-A %d\n" % (t.ident, WAIT_LINE))
        f.write("local %x\n" % shared[0])
        f.write("main %d\n" % threading.main_thread().ident)
    ev.set()
    t.join()


# Run again through runpy, as `python -m heapsnap run` does: the module's
# __dict__ then has a reference on a running frame's value stack (exec's
# argument), which the walk cannot see; it must not make the dict a
# held-from-C root.
if __name__ == "__main__":
    import runpy
    runpy.run_path(__file__, run_name="roots_run")
elif __name__ == "roots_run":
    main(sys.argv[1], sys.argv[2])
