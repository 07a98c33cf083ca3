"""Writing to Kafka until the broker acknowledges, for notify's own writes.

Notify writes outside the consume loop (intents before a send, outcomes after
it, dead letters), and each write must be acknowledged before what depends on
it happens. A broker outage therefore pauses deliveries rather than losing
their record; only a stopping worker gives up, leaving the work to whoever
owns the partition next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiokafka.errors import KafkaError

from shared.kafka.publisher import Publisher, Record
from shared.metrics import MESSAGES_PUBLISHED, PUBLISH_ERRORS

log = structlog.get_logger(__name__)


class Stopping(Exception):
    """The worker is stopping before a write was acknowledged."""


async def publish_acked(
    publisher: Publisher,
    records: Callable[[], list[Record]],
    stopping: asyncio.Event,
    order: asyncio.Lock | None = None,
) -> None:
    """Publish ``records()`` until acknowledged.

    Each retry asks for the records anew, so a retried state write carries
    the newest state. ``order`` is held while the records are queued (not
    while their ack is awaited): writers sharing it reach the broker in the
    order they queued.
    """
    order = order or asyncio.Lock()
    backoff = 0.2
    while True:
        batch: list[Record] = []
        try:
            async with order:
                batch = records()
                futures = [await publisher.send(record) for record in batch]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
        except KafkaError as exc:
            failed = [exc]
        for record in batch:
            (PUBLISH_ERRORS if failed else MESSAGES_PUBLISHED).labels(record.topic).inc()
        if not failed:
            return
        log.warning("notify write failed, retrying", error=repr(failed[0]), delay=backoff)
        try:
            await asyncio.wait_for(stopping.wait(), backoff)
        except TimeoutError:
            backoff = min(backoff * 2, 5.0)
            continue
        raise Stopping()
