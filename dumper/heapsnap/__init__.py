"""heapsnap: snapshots of a running Python heap as .hsnap files.

    import heapsnap
    heapsnap.dump("/tmp/app.hsnap")
"""
import os
from collections import namedtuple

from . import _dumper

__version__ = _dumper.__version__
__all__ = ["dump", "DumpResult", "__version__"]

DumpResult = namedtuple("DumpResult", "path objects refs bytes seconds")
DumpResult.__doc__ = """What dump() wrote: the file, the objects and references
in it, its size in bytes and the seconds the dump took."""


def dump(path, *, values="preview"):
    """Write a snapshot of this interpreter's heap to path.

    The file is written atomically (temporary file, fsync, rename) and
    created with mode 0600. values="none" stores no contents of strings,
    bytes or numbers, for dumps that leave the production network. Raises
    OSError (with the path) if the dump fails; no file is then left at path.
    """
    path = os.fspath(path)
    objects, refs, nbytes, seconds = _dumper.dump(path, values)
    return DumpResult(path, objects, refs, nbytes, seconds)
