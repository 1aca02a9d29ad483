"""heapsnap: snapshots of a running Python heap as .hsnap files.

    import heapsnap
    heapsnap.dump("/tmp/app.hsnap")

Dumps of a live service, taken while it keeps serving:

    heapsnap.install(dir="/var/tmp/heapsnap")    # then: kill -USR1 <pid>
                                                 # or: heapsnap trigger <pid>

or with no change to the program: python -m heapsnap run app.py, or
HEAPSNAP="signal=USR1,dir=/var/tmp/heapsnap" in its environment.
"""
import atexit
import os
import re
import signal as _signal
import sys
import warnings
from collections import namedtuple

from . import _dumper

__version__ = _dumper.__version__
__all__ = ["dump", "DumpResult", "install", "uninstall", "__version__"]

DumpResult = namedtuple("DumpResult", "path objects refs bytes seconds")
DumpResult.__doc__ = """What dump() wrote: the file, the objects and references
in it, its size in bytes and the seconds the dump took."""


def dump(path, *, values="preview"):
    """Write a snapshot of this interpreter's heap to path.

    The file is written atomically (temporary file, fsync, rename) and
    created with mode 0600. values="none" stores no contents of strings,
    bytes or numbers and no names that may be data (dict keys, thread and
    task names the program chose, attribute names that are no identifiers),
    for dumps that leave the production network (README: Taking a dump). Raises
    OSError (with the path) if the dump fails; no file is then left at path.
    """
    path = os.fspath(path)
    objects, refs, nbytes, seconds = _dumper.dump(path, values)
    return DumpResult(path, objects, refs, nbytes, seconds)


# Signals that cannot be caught, report a fault in the thread that got
# them, or that a dump child's own exit would raise again.
_UNFIT = {"SIGKILL", "SIGSTOP", "SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE",
          "SIGABRT", "SIGTRAP", "SIGSYS", "SIGCHLD", "SIGXFSZ"}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 10**3,
               "m": 1 << 20, "mib": 1 << 20, "mb": 10**6,
               "g": 1 << 30, "gib": 1 << 30, "gb": 10**9,
               "t": 1 << 40, "tib": 1 << 40, "tb": 10**12}
_TIME_UNITS = {"": 1, "ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600,
               "d": 86400}
_hooked = False
_NATIVE_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "libheapsnap-native.so")
# Set across the re-exec that preloads the tracker: "1:" + the LD_PRELOAD
# before it, "0:" when there was none.
_NATIVE_ENV = "_HEAPSNAP_NATIVE_EXEC"


def _signal_of(sig):
    """(number, name) of a signal given as "SIGUSR1", "USR1", 10 or
    signal.SIGUSR1; (0, None) for None."""
    if sig is None or sig is False or (isinstance(sig, str) and
                                       sig.strip().lower() == "none"):
        return 0, None
    try:
        if isinstance(sig, str) and sig.strip().isdigit():
            s = _signal.Signals(int(sig))
        elif isinstance(sig, str):
            name = sig.strip().upper()
            s = _signal.Signals[name if name.startswith("SIG") else "SIG" + name]
        elif isinstance(sig, int) and not isinstance(sig, bool):
            s = _signal.Signals(sig)
        else:
            raise TypeError("signal must be a name, a number or None, not %r" % (sig,))
    except (KeyError, ValueError):
        raise ValueError("unknown signal %r" % (sig,)) from None
    if s.name in _UNFIT:
        raise ValueError("%s cannot trigger dumps" % s.name)
    return int(s), s.name


def _number(text, units, what, like):
    """A number with an optional unit from units, as int or float."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
        if not m or m.group(2).lower() not in units:
            raise ValueError("%s must be %s, not %r" % (what, like, text))
        value = float(m.group(1)) * units[m.group(2).lower()]
    else:
        raise TypeError("%s must be a number or a string, not %r" % (what, text))
    if not value > 0:
        raise ValueError("%s must be positive, not %r" % (what, text))
    return value


def _program():
    """The program's name for dump file names: the script without .py, the
    module run with -m, or "python"."""
    argv0 = sys.argv[0] if getattr(sys, "argv", None) else ""
    if argv0 == "-m":
        orig = getattr(sys, "orig_argv", [])
        return orig[orig.index("-m") + 1] if "-m" in orig[:-1] else "python"
    if argv0 in ("", "-c"):
        return "python"
    path = os.path.abspath(argv0)
    name = os.path.basename(path)
    if name == "__main__.py":  # a package run with -m: its name
        name = os.path.basename(os.path.dirname(path))
    return name[:-3] if name.endswith(".py") else name


def _native_exec():
    """Runs this program again, the same way, with the native allocation
    tracker preloaded (LD_PRELOAD); returns at once when it is loaded.
    Raises RuntimeError when the tracker is missing or would not load."""
    if _dumper._native_loaded():
        return
    if os.environ.get(_NATIVE_ENV) is not None:
        raise RuntimeError("%s did not load (LD_PRELOAD=%r)"
                           % (_NATIVE_LIB, os.environ.get("LD_PRELOAD", "")))
    if not os.path.exists(_NATIVE_LIB):
        raise RuntimeError("no native tracker at %s" % _NATIVE_LIB)
    env = dict(os.environ)
    old = env.get("LD_PRELOAD")
    env[_NATIVE_ENV] = "0:" if old is None else "1:" + old
    env["LD_PRELOAD"] = _NATIVE_LIB + (" " + old if old else "")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable] + sys.orig_argv[1:], env)


def _native_start():
    """Starts tracking native allocations; the programs this one runs are
    not tracked (LD_PRELOAD is put back as it was)."""
    _dumper._native_start()
    saved = os.environ.pop(_NATIVE_ENV, None)
    if saved is not None:
        if saved.startswith("1:"):
            os.environ["LD_PRELOAD"] = saved[2:]
        else:
            os.environ.pop("LD_PRELOAD", None)


def install(signal="SIGUSR1", dir=None, fork=True, rss_limit=None,
            interval=None, keep=10, values="preview", native=False):
    """Dump this process's heap while it keeps serving: on a signal, when
    its resident set grows past a limit, or periodically.

    signal     "SIGUSR1", "USR1", a number or None. The dump starts within
               milliseconds even while the main thread waits in C (an
               asyncio loop in epoll, a lock, time.sleep): a watcher thread
               takes it as soon as the GIL is free. Signals that arrive
               during a dump make one more dump after it; dumps never
               overlap.
    dir        where dumps go (default: the current directory), created
               0700 if missing. Files are named
               <program>-<host>-<pid>-<UTC time>-<seq>.hsnap, mode 0600,
               written atomically (temporary file, fsync, rename).
    fork       dump in a fork()ed child: the service pauses only for
               fork() (about 20 ms per GiB of resident memory); the child
               writes no object (copy-on-write stays small), runs no Python
               code, leaves with _exit and is the OOM killer's first choice.
               fork=False dumps in process, with the service paused for the
               whole dump.
    rss_limit  bytes or "2GiB", "500MB": dump when the resident set reaches
               it, and again at each step of 1.5 times above it, so the
               evidence exists before the OOM killer strikes.
    interval   seconds or "10m", "1h", "30s": periodic dumps.
    keep       how many of the dumps this process writes stay, the newest
               (0: all); files of other processes are never removed.
    values     "preview" (bounded previews of str, bytes and numbers) or
               "none" (no contents, no names that may be data).
    native     track native allocations (malloc & co, anonymous mmap) with
               their C and Python stacks from now on, for 'heapsnap
               native'; needs libheapsnap-native.so preloaded, as
               'python -m heapsnap run --native' and HEAPSNAP="native=1"
               do (RuntimeError otherwise).

    Each dump writes one line to stderr: the file, or why it failed (a
    full disk, an unwritable directory); the service keeps running either
    way. A process forked after install() (a prefork worker) dumps on its
    own, to files with its own pid. 'heapsnap trigger PID' signals the
    process and waits for the new dump; 'heapsnap trigger MASTER' of a
    prefork service signals each worker with a handler too. For allocation tracebacks in the
    dumps run Python with -X tracemalloc=N. install() again replaces the
    settings; uninstall() undoes it (at exit too).
    """
    signum, signame = _signal_of(signal)
    directory = os.path.abspath(os.getcwd() if dir is None else os.fspath(dir))
    if isinstance(directory, bytes):
        directory = os.fsdecode(directory)
    if "\n" in directory:
        raise ValueError("dir must not contain a newline: %r" % directory)
    limit = every = 0
    if rss_limit is not None:
        limit = int(_number(rss_limit, _SIZE_UNITS, "rss_limit",
                            "bytes or a size like 2GiB or 500MB"))
    if interval is not None:
        every = float(_number(interval, _TIME_UNITS, "interval",
                              "seconds or a duration like 10m, 1h or 500ms"))
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 0:
        raise ValueError("keep must be a number of dumps (0: all), not %r" % (keep,))
    if values not in ("preview", "none"):
        raise ValueError("values must be 'preview' or 'none', not %r" % (values,))
    if not (signum or limit or every):
        raise ValueError("nothing would trigger a dump: give a signal, rss_limit or interval")
    if native:
        _native_start()
    if signum and callable(_signal.getsignal(signum)):
        warnings.warn("heapsnap.install() replaces the Python handler of %s" % signame,
                      RuntimeWarning, stacklevel=2)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        pass  # each dump then says why it cannot write there
    _dumper._install(directory, _program(), signum, signame, bool(fork), keep,
                     values, limit, float(every))
    global _hooked
    if not _hooked:
        atexit.register(uninstall)
        os.register_at_fork(after_in_child=_dumper._after_fork)
        _hooked = True


def uninstall():
    """Stop the dumps install() set up: waits for a dump in progress,
    restores the signal's earlier handler. Does nothing if none is
    installed."""
    _dumper._uninstall()


def _env_settings(spec):
    """install() keywords from HEAPSNAP: "1", or comma-separated key=value
    pairs: signal=USR1,dir=/var/tmp/heapsnap,rss_limit=2GiB,interval=10m,
    fork=1,keep=10,values=none,native=1."""
    if spec.strip().lower() in ("1", "on", "yes", "true"):
        return {}
    flags = {"1": True, "on": True, "yes": True, "true": True,
             "0": False, "off": False, "no": False, "false": False}
    kw = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        value = value.strip()
        if not sep or not key:
            raise ValueError("%r is not key=value" % item)
        if key in ("fork", "native"):
            if value.lower() not in flags:
                raise ValueError("%s must be 1 or 0, not %r" % (key, value))
            kw[key] = flags[value.lower()]
        elif key == "keep":
            kw[key] = int(value)
        elif key in ("signal", "dir", "rss_limit", "interval", "values"):
            kw[key] = value
        else:
            raise ValueError("unknown setting %r" % key)
    return kw


def _install_from_env():
    """Install as the HEAPSNAP environment variable says; called at start-up
    by heapsnap-init.pth. A bad setting is reported, never fatal."""
    spec = os.environ.get("HEAPSNAP", "")
    if not spec.strip():
        return
    try:
        kw = _env_settings(spec)
        if kw.get("native"):
            _native_exec()
        install(**kw)
    except (ValueError, TypeError, OSError, RuntimeError) as e:
        sys.stderr.write("heapsnap: ignoring HEAPSNAP=%r: %s\n" % (spec, e))
