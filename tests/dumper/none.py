"""A secret string held in every way a value can be held, and carried in
names that are data (a thread's and a task's name, a dict key, an attribute
name that is no identifier), dumped once with values="none" and once with
previews, from inside an asyncio loop.

usage: none.py NONE_DUMP PREVIEW_DUMP
"""
import asyncio
import sys
import threading

import heapsnap

# built at run time: no code constant holds the whole secret
SECRET = "".join(["hun", "ter2-", "S3CR", "ET-XYZZY"])


class Holder:
    pass


async def pending_request():
    await asyncio.sleep(3600)


async def dumps(none_path, preview_path):
    task = asyncio.create_task(pending_request(),
                               name="req-7f3a-token=" + SECRET)
    await asyncio.sleep(0)
    heapsnap.dump(none_path, values="none")
    heapsnap.dump(preview_path)
    task.cancel()


def main(none_path, preview_path):
    h = Holder()
    h.attr = SECRET
    setattr(h, "Bearer " + SECRET, 1)
    keep = [SECRET, {SECRET: 1}, {"k": SECRET}, (SECRET, 1), h,
            SECRET.encode(), bytearray(SECRET.encode()), {(SECRET, 2): 3},
            {"Bearer " + SECRET: 4}]
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="req-7f3a-token=" + SECRET)
    t.start()
    try:
        asyncio.run(dumps(none_path, preview_path))
    finally:
        stop.set()
        t.join()
    return keep


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
