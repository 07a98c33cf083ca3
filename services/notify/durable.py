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

from shared.kafka.publisher import Publisher, PublishError, Record

log = structlog.get_logger(__name__)


class Stopping(Exception):
    """The worker is stopping before a write was acknowledged."""


async def publish_acked(
    publisher: Publisher,
    records: Callable[[], list[Record]],
    stopping: asyncio.Event,
    order: asyncio.Lock | None = None,
) -> None:
    """Publish ``records()`` until acknowledged, or refused: a record the broker
    refuses for what it is is never written by retrying (``PublishError``).

    Each retry asks for the records anew, so a retried state write carries
    the newest state. ``order`` is held while the records are queued (not
    while their ack is awaited): writers sharing it reach the broker in the
    order they queued.
    """
    order = order or asyncio.Lock()
    backoff = 0.2
    while True:
        try:
            async with order:
                pending = await publisher.queue(records())
            await publisher.acknowledged(pending)
            return
        except PublishError as exc:
            if exc.refused:
                raise
            log.warning("notify write failed, retrying", error=str(exc), delay=backoff)
        try:
            await asyncio.wait_for(stopping.wait(), backoff)
        except TimeoutError:
            backoff = min(backoff * 2, 5.0)
            continue
        raise Stopping()
