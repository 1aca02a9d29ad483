"""Must find as a group of objects, and not as memory no object explains:
8 KiB bytearrays appended to a module-level list, 8 MiB per phase. Their
buffers are in malloc's heap and in their sizes, so the objects explain
the growth of the resident set.

    python3 bytearrays.py OUTDIR
"""
import phases

_buffers = []


def handle(rid):
    _buffers.append(bytearray(8192))


def run(out, args):
    phases.serve(out, handle, per_phase=1024)


if __name__ == "__main__":
    phases.main(__file__)
