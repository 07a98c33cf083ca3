"""Whether a consumer keeps up: lag and stalls per partition, whatever the loop is doing.

Lag is measured from what the consumer finished (committed), not from its
fetch position: the batch in hand still waits until its outputs are
acknowledged. A partition is stalled while records wait on it and its
committed offset does not move; past ``stall_timeout`` the worker reports not
ready, so a wedge (a publisher that cannot write, a handler that hangs)
shows instead of hiding behind a healthy process.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable

from aiokafka import TopicPartition

from shared.metrics import CONSUMER_LAG, CONSUMER_STALLED


class Progress:
    def __init__(
        self, group: str, stall_timeout: float, clock: Callable[[], float] = time.monotonic
    ):
        self.group = group
        self.stall_timeout = stall_timeout
        self.clock = clock
        self.done: dict[TopicPartition, int] = {}
        self.end: dict[TopicPartition, int] = {}
        self.since: dict[TopicPartition, float] = {}

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        now = self.clock()
        for tp in partitions:
            self.since[tp] = now

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self.done.pop(tp, None)
            self.end.pop(tp, None)
            self.since.pop(tp, None)
            labels = (self.group, tp.topic, str(tp.partition))
            for gauge in (CONSUMER_LAG, CONSUMER_STALLED):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)

    def starting(self, tp: TopicPartition, offset: int) -> None:
        """The first offset of a batch: everything before it was finished."""
        self.done.setdefault(tp, offset)

    def finished(self, offsets: dict[TopicPartition, int]) -> None:
        """Offsets committed: progress."""
        now = self.clock()
        for tp, offset in offsets.items():
            if offset > self.done.get(tp, -1):
                self.done[tp] = offset
                self.since[tp] = now

    def observe(self, tp: TopicPartition, end: int | None, done: int | None = None) -> None:
        """The log's end offset as last seen; ``done`` where the consumer
        stands if no batch told yet (its position, with nothing in hand)."""
        if done is not None:
            self.done.setdefault(tp, done)
        if end is not None and end > self.end.get(tp, -1):
            self.end[tp] = end
        position = self.done.get(tp)
        last = self.end.get(tp)
        if position is None or last is None:
            return
        waiting = max(0, last - position)
        now = self.clock()
        if waiting == 0:
            self.since[tp] = now
        labels = (self.group, tp.topic, str(tp.partition))
        CONSUMER_LAG.labels(*labels).set(waiting)
        CONSUMER_STALLED.labels(*labels).set(now - self.since.setdefault(tp, now) if waiting else 0)

    def stalled(self) -> list[TopicPartition]:
        """Partitions without progress for longer than ``stall_timeout`` while records wait."""
        now = self.clock()
        return [
            tp
            for tp, since in self.since.items()
            if now - since > self.stall_timeout
            and self.end.get(tp, 0) > self.done.get(tp, self.end.get(tp, 0))
        ]
