"""A stream consumer that keeps everything it has seen.

Two leaks from one story: a coroutine reading chunks from a feed appends
every chunk (a large string) to a replay list nobody trims, and an event
log is kept as a linked list of small dicts whose head only moves forward
while the tail is never dropped.

    python3 samples/stream_buffer.py [--fixed] [--duration SECONDS]

--fixed keeps only the last 100 chunks and the last 1,000 events.
"""
import argparse
import asyncio
import collections
import os
import sys


class EventLog:
    """Linked list of events: {"seq": n, "kind": ..., "next": <older event>}."""

    def __init__(self, limit=None):
        self.head = None
        self.size = 0
        self.limit = limit

    def add(self, seq, kind):
        self.head = {"seq": seq, "kind": kind, "next": self.head}
        self.size += 1
        if self.limit and self.size > self.limit:
            node = self.head  # drop everything past the limit
            for _ in range(self.limit - 1):
                node = node["next"]
            node["next"] = None
            self.size = self.limit


async def feed(queue, chunks):
    for i in range(chunks):
        await queue.put(f"chunk {i:08d} " + "x" * 2000)
        await asyncio.sleep(0)
    await queue.put(None)


async def consume(queue, replay, log):
    seq = 0
    while (chunk := await queue.get()) is not None:
        replay.append(chunk)
        log.add(seq, "chunk")
        seq += 1


async def main(args):
    print(f"stream_buffer pid {os.getpid()} {'fixed' if args.fixed else 'leaking'}", flush=True)
    replay = collections.deque(maxlen=100) if args.fixed else []
    log = EventLog(limit=1000 if args.fixed else None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.duration
    while loop.time() < deadline:
        queue = asyncio.Queue(maxsize=16)
        await asyncio.gather(feed(queue, 2000), consume(queue, replay, log))
        print(f"replay chunks: {len(replay)}, events: {log.size}", flush=True)
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fixed", action="store_true", help="run the repaired twin")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to run")
    asyncio.run(main(p.parse_args(sys.argv[1:])))
