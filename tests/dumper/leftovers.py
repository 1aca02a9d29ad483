"""One dump into a directory holding temporary files that earlier dumps
left behind (the test made them).

usage: leftovers.py DUMP
"""
import sys

import heapsnap

if __name__ == "__main__":
    heapsnap.dump(sys.argv[1], values="none")
