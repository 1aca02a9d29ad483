"""1,000 asyncio tasks blocked on one Event: dumps from inside the loop and
writes where Python says the first task waits.

usage: aio.py DUMP VIEW

  task ID NAME                    each task (1000 lines)
  coro QUALNAME LINE              the task's coroutine and its suspended line
  await QUALNAME FILE LINE        the coroutine it awaits (Event.wait)
"""
import asyncio
import sys

import heapsnap


async def worker(ev):
    await ev.wait()


async def main(dump_path, view_path):
    ev = asyncio.Event()
    tasks = [asyncio.create_task(worker(ev), name="w%d" % i)
             for i in range(1000)]
    await asyncio.sleep(0)
    heapsnap.dump(dump_path)
    with open(view_path, "w") as f:
        for t in tasks:
            f.write("task %x %s\n" % (id(t), t.get_name()))
        coro = tasks[0].get_coro()
        f.write("coro %s %d\n" % (coro.__qualname__, coro.cr_frame.f_lineno))
        inner = coro.cr_await
        f.write("await %s %s %d\n" % (inner.__qualname__,
                                      inner.cr_frame.f_code.co_filename,
                                      inner.cr_frame.f_lineno))
    ev.set()
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
