"""Giving a worker's freed memory back to the system after a backlog.

CPython hands every allocation larger than 512 bytes (dict tables, the set
of fields pydantic gives each model it reads, encoded records) to the C
library's ``malloc``. glibc keeps what is freed for the next allocations
instead of returning it, so a worker that worked through a backlog in
batches of thousands of records would keep the resident size of its busiest
batch, on top of its state, for as long as it runs. ``malloc_trim`` returns
those free pages. It costs a walk of the free lists, and pages given back
are faulted in again when used: so it runs once the worker is idle after
handling many records, not between batches.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


def malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``; None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class IdleTrim:
    """Trims the C library's heap at a tick when the worker handled nothing
    since the tick before, after handling at least ``after`` records since
    it last trimmed (a backlog's batch, say). A worker that keeps up with a
    storm handles records between every two ticks, so it does not trim until
    the storm is over."""

    def __init__(self, after: int, trim: Callable[[], object] | None = None):
        self.after = after
        self.trim = malloc_trim() if trim is None else trim
        self.pending = 0  # records handled since the last trim
        self.recent = 0  # since the last tick

    def handled(self, records: int) -> None:
        self.pending += records
        self.recent += records

    def due(self) -> None:
        """Work other than handling records freed much memory (restoring a
        partition's state reads its whole changelog): trim at the next idle tick."""
        self.pending = max(self.pending, self.after)

    def tick(self) -> None:
        idle, self.recent = self.recent == 0, 0
        if not idle or self.trim is None or self.pending < self.after:
            return
        self.pending = 0
        self.trim()
        log.debug("freed memory returned to the system")
