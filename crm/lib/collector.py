"""Python's cyclic garbage collector held back while a bulk run allocates.

A run over a large file makes millions of short-lived objects (a row's dicts, lists, tuples),
and a batch of them is alive while it is checked. The collector, triggered every 700
allocations, finds them alive, promotes them, and every so often traverses the whole heap
(Django's ~300,000 objects and more): 23 full collections in a 100,000-customer dry run and
commit, about 4 of its 10 seconds of Python time (docs/benchmarks.md, import and export). The
rows need no collector: reference counting frees them when their batch is done. So a run pauses
the automatic collections and collects the young generation itself once per batch
(`young_collected`): the few objects that live on in caches are traversed once, and a cycle a
batch made (none on the import paths measured) is freed a batch later, not at the end.

The pause is the process's: other threads of it (a threaded web worker's requests beside an
inline import of a small file) go without automatic collections while it lasts, and reference
counting still frees everything that is not a cycle.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collections inside; the collector's state as it was found afterwards (a
    process that turned it off keeps it off; nested pauses leave it to the outermost)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def young_collected() -> None:
    """Collect the youngest generation: what a batch left behind, not the whole heap."""
    gc.collect(0)
