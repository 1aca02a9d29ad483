"""An asyncio TCP service (stdlib streams on 127.0.0.1) under a bounded
client load, with heapsnap.install() done: the tests signal it while it
serves, then create STOP.

usage: trig_server.py DIR STOP [--objects N] [--no-fork]

Creates DIR/../ready once it serves. After STOP appears it finishes the
clients and writes DIR/../result:

  requests SENT ANSWERED       every client request and the answered ones
  children N                   processes whose parent is this one

and exits 1 if a request went unanswered.
"""
import argparse
import asyncio
import os
import sys

import heapsnap


def children():
    """Processes (zombies too) whose parent is this process."""
    me, n = os.getpid(), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            n += 1
    return n


async def handle(reader, writer):
    while line := await reader.readline():
        writer.write(b"%d\n" % len(line))
        await writer.drain()
    writer.close()


async def client(port, stop, counts):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    while not os.path.exists(stop):
        counts[0] += 1
        writer.write(b"query %d\n" % i)
        await writer.drain()
        if await asyncio.wait_for(reader.readline(), 30):
            counts[1] += 1
        i += 1
        await asyncio.sleep(0.002)
    writer.close()
    await writer.wait_closed()


async def main(args):
    heap = [("item %d" % i, i) for i in range(args.objects // 3)]
    heapsnap.install(dir=args.dir, fork=args.fork)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    top = os.path.dirname(os.path.abspath(args.dir))
    open(os.path.join(top, "ready"), "w").close()
    counts = [0, 0]
    await asyncio.gather(*(client(port, args.stop, counts) for _ in range(4)))
    server.close()
    await server.wait_closed()
    with open(os.path.join(top, "result"), "w") as f:
        f.write("requests %d %d\nchildren %d\n" % (counts[0], counts[1], children()))
    del heap
    return 0 if counts[0] == counts[1] > 0 else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("stop")
    p.add_argument("--objects", type=int, default=300000)
    p.add_argument("--fork", action=argparse.BooleanOptionalAction, default=True)
    sys.exit(asyncio.run(main(p.parse_args())))
