"""python -m heapsnap run: run a program unmodified, with heapsnap.install()
done before its first line, so its heap can be dumped while it serves.

    python -m heapsnap run [--signal USR1] [--dir D] [--rss-limit 2GiB]
        [--interval 10m] [--fork|--no-fork] [--keep N] [--values preview|none]
        [--native] (script.py | -m module) [args ...]
"""
import argparse
import importlib.util
import os
import runpy
import sys

import heapsnap

# run's options that take a value; the program's own start at the first
# word that is none of run's.
_VALUED = {"--signal", "--dir", "--rss-limit", "--interval", "--keep", "--values"}


def _split(argv):
    """(run's options, the program: [script, args...] or ["-m", module, ...])."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return argv[:i], argv[i + 1:]
        if a == "-m" or not a.startswith("-") or a == "-":
            break
        i += 2 if a in _VALUED else 1
    return argv[:i], argv[i:]


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m heapsnap",
        description="Heap snapshots of running Python programs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    r = sub.add_parser(
        "run", help="run a program with a dump handler installed",
        usage="python -m heapsnap run [options] (script.py | -m module) [args ...]",
        description="Run a Python program unmodified with heapsnap.install() done "
                    "first: 'kill -USR1 PID' or 'heapsnap trigger PID --wait' then "
                    "dumps its heap while it keeps serving. The same without "
                    "'run': HEAPSNAP=\"signal=USR1,dir=/var/tmp/heapsnap\" in the "
                    "program's environment (once heapsnap is installed).",
        epilog="For allocation tracebacks in the dumps, trace with tracemalloc: "
               "python -X tracemalloc=25 -m heapsnap run app.py (or "
               "PYTHONTRACEMALLOC=25).")
    r.add_argument("--signal", default="USR1",
                   help="the signal that takes a dump (default USR1; 'none': no signal)")
    r.add_argument("--dir", default=".", help="where dumps go (default: the current directory)")
    r.add_argument("--rss-limit", metavar="SIZE",
                   help="dump when the resident set reaches SIZE (e.g. 2GiB), and at "
                        "each step of 1.5 times above")
    r.add_argument("--interval", metavar="DURATION",
                   help="dump every DURATION (e.g. 10m, 1h, 30s)")
    r.add_argument("--fork", action=argparse.BooleanOptionalAction, default=True,
                   help="dump in a fork()ed child, pausing the program only for fork() "
                        "(default); --no-fork dumps in process")
    r.add_argument("--keep", type=int, default=10, metavar="N",
                   help="keep the N newest dumps the process writes (0: all; default 10)")
    r.add_argument("--values", choices=("preview", "none"), default="preview",
                   help="store previews of strings and numbers, or none")
    r.add_argument("--native", action="store_true",
                   help="track native allocations (malloc & co, anonymous mmap) with "
                        "their C and Python stacks, for 'heapsnap native': runs the "
                        "program with libheapsnap-native.so preloaded")
    return p, r


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p, r = _parser()
    if not argv or argv[0] != "run":
        p.parse_args(argv)  # help, or the error for another command
        return 2
    ours, program = _split(argv[1:])
    args = r.parse_args(ours)
    if not program or (program[0] == "-m" and len(program) < 2):
        r.error("no program to run: give script.py or -m module")
    if program[0] == "-m":
        module, sys.argv = program[1], program[1:]
        sys.path[0] = os.getcwd()
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if not found:
            r.error("no module named '%s'" % module)
    else:
        module, sys.argv = None, program
        sys.path[0] = os.path.dirname(os.path.abspath(program[0]))
        try:
            open(program[0], "rb").close()
        except OSError as e:
            r.error("cannot open '%s': %s" % (program[0], e.strerror))
    try:
        if args.native:
            heapsnap._native_exec()
        heapsnap.install(signal=args.signal, dir=args.dir, fork=args.fork,
                         rss_limit=args.rss_limit, interval=args.interval,
                         keep=args.keep, values=args.values, native=args.native)
    except (ValueError, TypeError, OSError, RuntimeError) as e:
        r.error(str(e))
    if args.signal.lower() != "none":
        sig = args.signal.upper()
        sys.stderr.write("heapsnap: process %d dumps to '%s' on %s "
                         "(heapsnap trigger %d --wait)\n"
                         % (os.getpid(), os.path.abspath(args.dir),
                            sig if sig.startswith("SIG") else "SIG" + sig, os.getpid()))
        sys.stderr.flush()
    if module:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(program[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
