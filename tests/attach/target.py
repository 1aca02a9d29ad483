"""A service for heapsnap attach to dump: it never imports heapsnap.

usage: target.py MODE READY_FILE [PORT_FILE]

Builds a heap of about 200,000 objects (serve, cthreads: a small one, as
they are attached to many times in a row), counts the objects it holds the
way the dumper does (the GC's objects, then every untracked object
reachable from them, dict keys and code objects' fields included), writes
"COUNT PID\\n" to READY_FILE and then, by MODE:

  sleep     the main thread in time.sleep(3600)
  cpu       a CPU-bound loop that never releases the GIL on its own
  asyncio   an idle asyncio server (the loop waits in epoll)
  lock      the main thread blocked in a lock acquire
  ccall     the main thread in a long C call (libc sleep through ctypes)
  threads   four threads allocating and freeing, the main thread joining
  cthreads  the main thread starting and joining threads from C (ctypes'
            pthread_create, the GIL released) in a loop
  serve     a TCP server, a thread per connection, one request each:
            a line answered with its length after 1 ms of bytecode; the
            port goes to PORT_FILE
"""
import gc
import os
import sys
import threading
import time
import types


class Record:
    def __init__(self, i):
        self.name = "record-%d" % i
        self.value = i * 1.5
        self.tags = [i, str(i)]


def build(n):
    return [Record(i) for i in range(n)]


HEAP = build(200 if sys.argv[1] in ("serve", "cthreads") else 40000)


def count():
    """Objects reachable from the GC's lists, each once."""
    gc.collect()
    objs = gc.get_objects()
    seen = {id(o) for o in objs}
    seen.add(id(objs))
    todo = list(objs)
    hidden = 0
    while todo:
        o = todo.pop()
        refs = gc.get_referents(o)
        if type(o) is dict:
            refs = list(refs) + list(o)
        elif type(o) is types.CodeType:
            refs = [o.co_consts, o.co_names, o.co_filename, o.co_name,
                    o.co_qualname, o.co_linetable, o.co_exceptiontable]
            # co_localsplusnames and co_localspluskinds, which Python
            # shows only as new tuples: one tuple and one bytes object
            names = o.co_varnames + o.co_cellvars + o.co_freevars
            if names:
                hidden += 2
                refs += names
        for r in refs:
            if id(r) not in seen and not gc.is_tracked(r):
                seen.add(id(r))
                todo.append(r)
    n = len(seen) - 1 + hidden
    del objs, todo
    return n


def publish(path, text):
    """Writes text to path whole: a reader sees all of it or no file."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def ready(n):
    publish(sys.argv[2], "%d %d\n" % (n, os.getpid()))


def churn(stop):
    keep = []
    while not stop.is_set():
        keep.append([str(i) for i in range(20)])
        if len(keep) > 10:
            del keep[:5]


def listen():
    import socket
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    publish(sys.argv[3], "%d\n" % srv.getsockname()[1])
    return srv


def serve(srv):
    def handle(conn):
        with conn, conn.makefile("rb") as rf:
            line = rf.readline()
            # a moment of bytecode per request: some attaches find the GIL
            # held and wait for it at a bytecode boundary
            end = time.perf_counter() + 0.001
            while time.perf_counter() < end:
                pass
            conn.sendall(b"%d\n" % len(line))

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def main():
    mode = sys.argv[1]
    if mode == "asyncio":
        import asyncio  # before the count: its modules are in the heap
    if mode == "serve":
        srv = listen()  # the port is known once the count is
    if mode == "threads":
        stop = threading.Event()
        workers = [threading.Thread(target=churn, args=(stop,)) for _ in range(4)]
    ready(count())
    if mode == "sleep":
        time.sleep(3600)
    elif mode == "cpu":
        x = 0
        while True:
            x = (x + 1) % 1000003
    elif mode == "asyncio":
        async def run():
            srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
            await srv.serve_forever()
        asyncio.run(run())
    elif mode == "lock":
        lock = threading.Lock()
        lock.acquire()
        lock.acquire()
    elif mode == "ccall":
        import ctypes
        ctypes.CDLL(None).sleep(3600)
    elif mode == "threads":
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    elif mode == "cthreads":
        import ctypes
        libc = ctypes.CDLL(None)
        tid = ctypes.c_ulong()
        while True:
            # getpid: a C function that returns at once, as the thread's body
            if libc.pthread_create(ctypes.byref(tid), None, libc.getpid, None) == 0:
                libc.pthread_join(tid, None)
    elif mode == "serve":
        serve(srv)


main()
