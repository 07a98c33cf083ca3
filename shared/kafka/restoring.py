"""Partitions whose state could not be restored: never handled on empty state.

aiokafka logs and swallows what a rebalance listener raises, so a worker
whose changelog holds a record it cannot read would otherwise consume the
partition as if it had no state: duplicate incidents, pages sent twice,
incidents that never resolve. Instead such a partition is paused (its
fetched records are dropped without moving the position), restoring it is
tried again with backoff, the worker reports not ready, and only a restore
that succeeds resumes it from its committed offset.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.metrics import PARTITIONS_UNRESTORED, RESTORE_FAILURES

log = structlog.get_logger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


class Unrestored:
    def __init__(self, group_id: str):
        self.group_id = group_id
        self._delay: dict[TopicPartition, float] = {}
        self._next: dict[TopicPartition, float] = {}
        RESTORE_FAILURES.labels(group_id)  # exported from the start, at 0
        self._report()

    def __contains__(self, tp: object) -> bool:
        return tp in self._next

    def __bool__(self) -> bool:
        return bool(self._next)

    def failed(
        self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition], error: Exception
    ) -> None:
        log.error(
            "state not restored; the partitions stay paused and the worker not ready",
            group=self.group_id,
            partitions=sorted(tp.partition for tp in partitions),
            error=str(error),
        )
        RESTORE_FAILURES.labels(self.group_id).inc()
        consumer.pause(*partitions)
        now = time.monotonic()
        for tp in partitions:
            delay = self._delay[tp] = min(
                self._delay.get(tp, FIRST_RETRY_SECONDS / 2) * 2, MAX_RETRY_SECONDS
            )
            self._next[tp] = now + delay
        self._report()

    def revoked(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self._delay.pop(tp, None)
            self._next.pop(tp, None)
        self._report()

    async def retry(
        self,
        consumer: AIOKafkaConsumer,
        restore: Callable[[set[TopicPartition]], Awaitable[None]],
    ) -> None:
        """Try each partition that is due again, on its own."""
        now = time.monotonic()
        for tp in [tp for tp, due in self._next.items() if due <= now]:
            try:
                await restore({tp})
            except Exception as exc:
                self.failed(consumer, {tp}, exc)
                continue
            # Records fetched before the pause may have moved the position.
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
            consumer.resume(tp)
            self._delay.pop(tp, None)
            self._next.pop(tp, None)
            log.info("state restored on retry", group=self.group_id, partition=tp.partition)
        self._report()

    def _report(self) -> None:
        PARTITIONS_UNRESTORED.labels(self.group_id).set(len(self._next))
