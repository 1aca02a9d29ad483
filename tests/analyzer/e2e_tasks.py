"""asyncio tasks and plain futures of known shape for test_e2e_tasks.c: 300
pending tasks of stats_writer() blocked behind an Event (through
Client.send), 3 finished tasks and 200 pending plain futures. Dumps to
argv[1] (with tracemalloc when argv[2] is "trace") and prints the lines of
the create_task call, of stats_writer's def, where stats_writer and
Client.send wait, and asyncio.all_tasks()'s count (main() included)."""
import asyncio
import sys
import tracemalloc

import heapsnap

_tasks = set()
_futures = []


class Client:
    def __init__(self):
        self.answered = asyncio.Event()  # never set

    async def send(self, payload):
        await self.answered.wait()  # SEND_LINE


async def stats_writer(client, n):
    await client.send({"n": n})  # WRITER_LINE


async def quick():
    return 1


def spawn(client, n):
    _tasks.add(asyncio.create_task(stats_writer(client, n)))  # CREATE_LINE


async def main(out):
    client = Client()
    loop = asyncio.get_running_loop()
    for n in range(300):
        spawn(client, n)
    for _ in range(200):
        _futures.append(loop.create_future())
    done = [asyncio.create_task(quick()) for _ in range(3)]
    await asyncio.sleep(0)
    await asyncio.gather(*done)
    heapsnap.dump(out)
    return len(asyncio.all_tasks())  # main() itself included


def line_of(marker):
    with open(__file__) as f:
        for i, text in enumerate(f, 1):
            if text.rstrip().endswith("# " + marker):
                return i
    raise SystemExit("no line " + marker)


if __name__ == "__main__":
    if sys.argv[2:] == ["trace"]:
        tracemalloc.start(8)
    n = asyncio.run(main(sys.argv[1]))
    print(line_of("CREATE_LINE"), stats_writer.__code__.co_firstlineno, line_of("WRITER_LINE"),
          line_of("SEND_LINE"), n)
