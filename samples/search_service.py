"""A search service that leaks pending asyncio tasks when its stats backend stalls.

The story (a real one): every search answers the client, then fires a task
that ships statistics about the result to a metrics backend. The task gets
the whole result set. When the backend stops answering, the tasks never
finish; each keeps its result set alive, and memory climbs until the OOM
killer restarts the service.

    python3 samples/search_service.py [--fixed] [--duration SECONDS]

It serves on 127.0.0.1 (a random port) and drives itself with a bounded
loopback client load. --fixed runs the repaired twin: the stats call has a
timeout (asyncio.wait_for) and gets only the number of results.
"""
import argparse
import asyncio
import os
import random
import sys

CATALOG = [f"product {i} " + "lorem ipsum " * 4 for i in range(5000)]

# Background tasks are kept here until done, as the asyncio docs advise (the
# event loop holds tasks only weakly).
_background = set()


class StatsBackend:
    """A metrics backend that answers for a while, then stalls forever."""

    def __init__(self, answer_first):
        self.answered = 0
        self.answer_first = answer_first
        self.never = asyncio.Event()

    async def send(self, payload):
        if self.answered >= self.answer_first:
            await self.never.wait()  # the backend stopped answering
        self.answered += 1
        await asyncio.sleep(0)


async def ship_stats(backend, results):
    await backend.send({"count": len(results), "results": results})


async def ship_count(backend, count):
    try:
        await asyncio.wait_for(backend.send({"count": count}), timeout=0.05)
    except asyncio.TimeoutError:
        pass


def search(query):
    rnd = random.Random(query)
    return [{"id": i, "title": CATALOG[i], "score": rnd.random()}
            for i in rnd.sample(range(len(CATALOG)), 40)]


def make_handler(backend, fixed):
    async def handle(reader, writer):
        while line := await reader.readline():
            results = search(line.decode().strip())
            if fixed:
                task = asyncio.create_task(ship_count(backend, len(results)))
            else:
                task = asyncio.create_task(ship_stats(backend, results))
            _background.add(task)
            task.add_done_callback(_background.discard)
            writer.write(f"{len(results)}\n".encode())
            await writer.drain()
        writer.close()
    return handle


async def client(port, requests, pause):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(requests):
        writer.write(f"query {random.randrange(10**6)}\n".encode())
        await writer.drain()
        await reader.readline()
        await asyncio.sleep(pause)
    writer.close()
    await writer.wait_closed()


async def main(args):
    backend = StatsBackend(answer_first=200)
    server = await asyncio.start_server(make_handler(backend, args.fixed),
                                        "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"search_service pid {os.getpid()} port {port} "
          f"{'fixed' if args.fixed else 'leaking'}", flush=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.duration
    while loop.time() < deadline:
        await asyncio.gather(*(client(port, 50, 0.001) for _ in range(4)))
        print(f"pending stats tasks: {len(_background)}", flush=True)
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fixed", action="store_true", help="run the repaired twin")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to run")
    asyncio.run(main(p.parse_args(sys.argv[1:])))
