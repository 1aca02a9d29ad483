"""A worker pipeline whose per-job cache only grows.

Each job parses its input into records and caches the parsed form "for
retries" in a module-level dict keyed by job id. Jobs never come back, so
the cache is only ever written.

    python3 samples/job_cache.py [--fixed] [--duration SECONDS]

--fixed drops a job's cache entry when the job is done.
"""
import argparse
import os
import queue
import sys
import threading
import time

_parsed_cache = {}


class Record:
    def __init__(self, job, line):
        self.job = job
        self.fields = line.split(",")
        self.raw = line


def parse(job_id, payload):
    records = [Record(job_id, line) for line in payload]
    _parsed_cache[job_id] = records
    return records


def worker(jobs, done, fixed):
    while (job := jobs.get()) is not None:
        job_id, payload = job
        records = parse(job_id, payload)
        done.append(sum(len(r.fields) for r in records))
        if fixed:
            del _parsed_cache[job_id]


def main(args):
    print(f"job_cache pid {os.getpid()} {'fixed' if args.fixed else 'leaking'}", flush=True)
    jobs, done = queue.Queue(maxsize=64), []
    workers = [threading.Thread(target=worker, args=(jobs, done, args.fixed),
                                name=f"worker-{i}") for i in range(2)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + args.duration
    job_id = 0
    while time.monotonic() < deadline:
        payload = [f"{job_id},{i},item-{i},{i * 3.5}" for i in range(50)]
        jobs.put((job_id, payload))
        job_id += 1
        if job_id % 2000 == 0:
            print(f"jobs: {job_id}, cached: {len(_parsed_cache)}", flush=True)
            time.sleep(0.01)
    for _ in workers:
        jobs.put(None)
    for w in workers:
        w.join()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fixed", action="store_true", help="run the repaired twin")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to run")
    main(p.parse_args(sys.argv[1:]))
