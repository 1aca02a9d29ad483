"""Must find: pending asyncio tasks piling up behind a backend that stopped
answering. Every request ships its results to a stats backend in a
background task, kept in _inflight as the asyncio docs advise; the backend
never answers, so the tasks (and the results they hold) never finish.

    python3 asyncio_tasks.py OUTDIR [--fixed]

--fixed is the repaired twin (must not be reported): the call has a
timeout (asyncio.wait_for), so every task ends.
"""
import asyncio
import tracemalloc

import phases

_inflight = set()


class Backend:
    def __init__(self):
        self.stalled = asyncio.Event()  # never set: the backend stopped answering

    async def send(self, payload):
        await self.stalled.wait()


async def ship_stats(backend, results):
    await backend.send({"count": len(results), "results": results})


async def ship_stats_fixed(backend, results):
    try:
        await asyncio.wait_for(backend.send({"count": len(results)}), timeout=0.001)
    except asyncio.TimeoutError:
        pass


def handle(backend, rid, fixed):
    results = [f"result {rid}.{i}" for i in range(20)]
    task = asyncio.create_task((ship_stats_fixed if fixed else ship_stats)(backend, results))
    _inflight.add(task)
    task.add_done_callback(_inflight.discard)


async def serve(out, fixed):
    backend = Backend()
    rid = 0
    for k in (1, 2, 3):
        for _ in range(200):
            rid += 1
            handle(backend, rid, fixed)
            await asyncio.sleep(0)
        # let the timeouts of the fixed variant fire
        await asyncio.sleep(0.05)
        phases.dump(out, k)


def run(out, args):
    tracemalloc.start(4)
    asyncio.run(serve(out, "--fixed" in args))


if __name__ == "__main__":
    phases.main(__file__)
