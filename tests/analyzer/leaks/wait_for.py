"""Must not report: an asyncio service whose every request awaits its
backend through asyncio.wait_for with a long timeout, under steady load.
Each call schedules a timer in the loop's _scheduled heap and cancels it
when the backend answers: the heap holds cancelled timers (dead in all but
name) until the loop purges them, and new timers and futures keep taking
the addresses of freed ones. No tracemalloc: identity rests on addresses,
types and what the objects hold.

    python3 wait_for.py OUTDIR
"""
import asyncio
import random

import phases


class Backend:
    async def query(self, rid):
        await asyncio.sleep(random.random() * 0.002)
        return {"rid": rid, "rows": [rid] * 3}


async def request(backend, rid):
    return await asyncio.wait_for(backend.query(rid), timeout=30)


async def client(backend, first, stop):
    rid = first
    while not stop.is_set():
        rid += 1
        await request(backend, rid)


async def serve(out):
    backend = Backend()
    stop = asyncio.Event()
    clients = [asyncio.create_task(client(backend, i * 10**6, stop)) for i in range(20)]
    for k in (1, 2, 3):
        await asyncio.sleep(0.3)
        phases.dump(out, k)
    stop.set()
    await asyncio.gather(*clients)


def run(out, args):
    random.seed(7)
    asyncio.run(serve(out))


if __name__ == "__main__":
    phases.main(__file__)
