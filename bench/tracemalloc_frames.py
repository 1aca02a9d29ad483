"""What tracemalloc's frame limit costs a service: start-up time and
request throughput of a small asyncio HTTP service under loopback load,
untraced and with -X tracemalloc=1, 3, 5 and 25.

    python3 bench/tracemalloc_frames.py [--seconds 5] [--clients 32] [--runs 3]
        [--frames 1 3 5 25]

The service imports what a web service imports (asyncio, json, logging,
email, http, urllib, decimal, xml, sqlite3, ...), then answers GET requests
over keep-alive connections with a JSON body built from a few dicts and
lists (allocation-heavy, as a handler is). A client process of its own
keeps --clients connections busy for --seconds and counts answers.
Start-up is the time from exec to the service listening. Each figure is
the median of --runs; the ratio column is to the untraced service.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

SERVICE = r'''
import asyncio, json, logging, email.message, email.utils, http.cookies, urllib.parse
import decimal, xml.etree.ElementTree, sqlite3, collections, dataclasses, typing, uuid
import sys, time

t0 = float(sys.argv[2])

async def handle(reader, writer):
    n = 0
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            n += 1
            path = urllib.parse.urlsplit(line.split()[1].decode()).path
            rows = [{"id": i, "name": "item-%d" % i, "tags": ["a", "b"], "path": path}
                    for i in range(20)]
            body = json.dumps({"n": n, "rows": rows}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    print("%.6f" % (time.time() - t0), flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
'''

CLIENT = r'''
import asyncio, sys, time

async def one(port, stop, counts):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    req = b"GET /items?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    while time.monotonic() < stop:
        writer.write(req)
        await writer.drain()
        n = 0
        while (line := await reader.readline()) != b"\r\n":
            if line.startswith(b"Content-Length:"):
                n = int(line.split()[1])
        await reader.readexactly(n)
        counts[0] += 1
    writer.close()

async def main(port, clients, seconds):
    counts = [0]
    stop = time.monotonic() + seconds
    await asyncio.gather(*(one(port, stop, counts) for _ in range(clients)))
    print(counts[0] / seconds)

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(frames, args):
    port = free_port()
    cmd = [sys.executable]
    if frames:
        cmd += ["-X", "tracemalloc=%d" % frames]
    cmd += ["-c", SERVICE, str(port), "%.6f" % time.time()]
    service = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        startup = float(service.stdout.readline())
        out = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(args.clients),
                              str(args.seconds)], capture_output=True, text=True, check=True)
        return startup, float(out.stdout)
    finally:
        service.kill()
        service.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--frames", type=int, nargs="+", default=[1, 3, 5, 25])
    args = ap.parse_args()
    print("python %s, %d clients for %.0f s, median of %d runs" %
          (sys.version.split()[0], args.clients, args.seconds, args.runs))
    print("| tracemalloc | start-up | requests/s | throughput vs untraced |")
    print("|---|---|---|---|")
    base = None
    for frames in [0] + args.frames:
        res = [run_once(frames, args) for _ in range(args.runs)]
        startup = statistics.median(r[0] for r in res)
        rps = statistics.median(r[1] for r in res)
        base = base or rps
        print("| %s | %.3f s | %.0f | %.2f× |" % (
            "off" if not frames else "%d frame%s" % (frames, "s" if frames > 1 else ""),
            startup, rps, rps / base), flush=True)


if __name__ == "__main__":
    main()
