"""Must find: callbacks appended to a long-lived emitter and never removed.
Each request subscribes a bound method of its Handler to the module's
event bus; the bound method keeps the Handler (and its buffer) alive. No
tracemalloc here: identity rests on address, type and GC generation.

    python3 callbacks.py OUTDIR
"""
import phases

class Emitter:
    def __init__(self):
        self._listeners = []

    def on(self, fn):
        self._listeners.append(fn)

    def emit(self, event):
        for fn in self._listeners:
            fn(event)


bus = Emitter()


class Handler:
    def __init__(self, rid):
        self.rid = rid
        self.buffer = [rid] * 50

    def on_event(self, event):
        pass


def handle(rid):
    h = Handler(rid)
    bus.on(h.on_event)


def run(out, args):
    phases.serve(out, handle, trace=False)


if __name__ == "__main__":
    phases.main(__file__)
