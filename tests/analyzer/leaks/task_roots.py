"""Must find, with its true size: fire-and-forget tasks piling up behind a
stats client that never answers. Nothing holds the tasks (the loop does,
from C: they are roots); what holds on is the Event's waiters deque, with
a Future per task. Each task keeps a ~4 KiB payload: the group's retained
growth must count the tasks and their payloads, not only the futures.

    python3 task_roots.py OUTDIR
"""
import asyncio
import tracemalloc

import phases


class StatsClient:
    def __init__(self):
        self.ready = asyncio.Event()  # never set: the backend is gone

    async def send(self, payload):
        await self.ready.wait()


async def stats_writer(client, rid):
    payload = [bytes(1000) + str(rid).encode() for _ in range(4)]
    await client.send(payload)


async def serve(out):
    client = StatsClient()
    loop = asyncio.get_running_loop()
    rid = 0
    for k in (1, 2, 3):
        for _ in range(300):
            rid += 1
            loop.create_task(stats_writer(client, rid))
        await asyncio.sleep(0.01)
        phases.dump(out, k)


def run(out, args):
    tracemalloc.start(4)
    asyncio.run(serve(out))


if __name__ == "__main__":
    phases.main(__file__)
