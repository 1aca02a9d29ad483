"""Failed dumps raise OSError with the path and leave no file; a good dump
is created 0600 and replaces an older one. Exits non-zero on a mismatch.

usage: fail.py DIR
"""
import errno
import os
import resource
import signal
import stat
import sys

import heapsnap


def expect_failure(path, code):
    try:
        heapsnap.dump(path)
    except OSError as e:
        assert e.errno == code, (e, code)
        assert e.filename == path, e
        assert str(e).startswith("[Errno %d] dump failed: " % code), e
    else:
        raise AssertionError("dump to %s did not fail" % path)


def main(top):
    d = os.path.join(top, "work")
    os.mkdir(d)
    expect_failure(os.path.join(d, "missing", "x.hsnap"), errno.ENOENT)
    with open(os.path.join(d, "file"), "w"):
        pass
    expect_failure(os.path.join(d, "file", "x.hsnap"), errno.ENOTDIR)

    # a write that fails half-way: the file size limit
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    big = os.path.join(d, "big.hsnap")
    expect_failure(big, errno.EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    good = os.path.join(d, "good.hsnap")
    with open(good, "w") as f:
        f.write("an older file")
    os.umask(0)
    r = heapsnap.dump(good)
    st = os.stat(good)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_size == r.bytes > 1000, (st.st_size, r)
    assert r.path == good and r.objects > 1000 and r.refs > r.objects, r
    left = sorted(os.listdir(d))
    assert left == ["file", "good.hsnap"], left


if __name__ == "__main__":
    main(sys.argv[1])
