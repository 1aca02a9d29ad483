"""A secret string held in every way a value can be held, dumped once with
values="none" and once with previews.

usage: none.py NONE_DUMP PREVIEW_DUMP
"""
import sys

import heapsnap

# built at run time: no code constant holds the whole secret
SECRET = "".join(["hun", "ter2-", "S3CR", "ET-XYZZY"])


class Holder:
    pass


def main(none_path, preview_path):
    h = Holder()
    h.attr = SECRET
    keep = [SECRET, {SECRET: 1}, {"k": SECRET}, (SECRET, 1), h,
            SECRET.encode(), bytearray(SECRET.encode()), {(SECRET, 2): 3}]
    heapsnap.dump(none_path, values="none")
    heapsnap.dump(preview_path)
    return keep


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
