"""When the cyclic garbage collector runs in a worker: between batches, not within them.

Reference counting frees almost everything a worker allocates; the cyclic
collector only finds what sits in reference cycles. But it runs whenever the
objects allocated and not yet freed pass a threshold, and each run walks
every young object still alive. Handling a batch keeps thousands of records,
alerts and revisions alive at once, so with a low threshold the collector ran
several times in every batch, each time walking the batch's objects, which
were all still in use and all freed by reference counting moments later.
While a batch is in hand the threshold is therefore raised
(``batch_in_hand``); once it is let go, its objects are gone and the next
run walks only what the batch left behind. The raised threshold still bounds
what a batch can leave uncollected, so a batch that waits long for the
broker does not stop collection.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.metrics import GC_PAUSES

# Young objects between two runs, outside batches: low enough that a run is
# a short pause on an idle or slow worker.
YOUNG = 50_000
# Within a batch: above what a batch of ``kafka.max_batch`` records kept
# alive at once in the benchmarks' load shapes, so that its objects are not
# walked while in use; still a bound on what one batch leaves uncollected.
IN_BATCH = 1_000_000

_in_hand = 0
_outside: tuple[int, int, int] | None = None


def tune() -> None:
    """Set the worker's collector up once it has started.

    Freezing moves what start-up allocated (modules, the model, config) out of
    the collector's way for good; the older generations are collected rarely,
    since a worker's long-lived state (triage's alerts, notify's sent log) is
    large and seldom in cycles.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, 20, 100)
    watch_pauses()


def watch_pauses() -> None:
    """Time every run of the collector from now on, once however often asked."""
    if _timed not in gc.callbacks:
        gc.callbacks.append(_timed)


# Made beforehand: making a child takes the metric's lock, and a run can
# start within any allocation, that one's included.
_PAUSES = tuple(GC_PAUSES.labels(str(generation)) for generation in range(3))
_started = 0.0


def _timed(phase: str, info: dict[str, Any]) -> None:
    """Every run's pause into ``corral_gc_pause_seconds``. A run holds the
    interpreter, so its wall time is what every thread of the worker waited."""
    global _started
    if phase == "start":
        _started = time.perf_counter()
    else:
        _PAUSES[info["generation"]].observe(time.perf_counter() - _started)


@contextmanager
def batch_in_hand() -> Iterator[None]:
    """Raise the young generation's threshold until the outermost batch in
    hand is let go: a worker runs one consume loop, but a process running
    several (the tests do) has their batches overlap."""
    global _in_hand, _outside
    if _in_hand == 0:
        _outside = gc.get_threshold()
        young, *older = _outside
        if young:  # zero: automatic collection is off, and stays off
            gc.set_threshold(max(young, IN_BATCH), *older)
    _in_hand += 1
    try:
        yield
    finally:
        _in_hand -= 1
        if _in_hand == 0 and _outside is not None:
            gc.set_threshold(*_outside)
            _outside = None
