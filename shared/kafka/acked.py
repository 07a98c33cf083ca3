"""Publishing until the broker acknowledges: the loop every durable write shares.

The consume loop's outputs, notify's intents and outcomes, dead letters and
state-store writes must each be acknowledged before what depends on them
happens (an offset commit, a send). A broker outage therefore pauses the
work rather than losing its record; only a stopping worker gives up, leaving
the work to whoever owns the partition next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from shared.kafka.publisher import Publisher, PublishError, Record, Refusal
from shared.retrying import Stopping, retry_until_stopped

__all__ = ["Stopping", "publish_until_acked"]


async def publish_until_acked(
    publisher: Publisher,
    records: Callable[[], Iterable[Record]],
    stop: asyncio.Event,
    order: asyncio.Lock | None = None,
    initial_backoff: float = 0.2,
    max_backoff: float = 5.0,
    refused: list[Refusal] | None = None,
) -> None:
    """Publish ``records()`` until acknowledged; ``Stopping`` if ``stop`` comes
    first, ``PublishError`` at once if the broker refused a record for what it
    is (writing it again cannot succeed; the caller quarantines it).

    Each retry asks for the records anew, so a retried state write carries
    the newest state; repeating a write is safe because every consumer of
    Corral's topics is idempotent. ``order`` is held while the records are
    queued (not while their ack is awaited): writers sharing it reach the
    broker in the order they queued. ``refused`` (without ``order``) collects
    the records the publisher left out because the broker would refuse them.
    """

    async def attempt() -> None:
        if order is None:
            if refused is not None:
                refused.clear()  # a retry finds them again
            await publisher.publish(records(), refused)
            return
        async with order:
            pending = await publisher.queue(records())
        await publisher.acknowledged(pending)

    await retry_until_stopped(
        attempt,
        (PublishError,),
        stop,
        "publish",
        initial_backoff,
        max_backoff,
        final=lambda exc: isinstance(exc, PublishError) and exc.refused,
    )
