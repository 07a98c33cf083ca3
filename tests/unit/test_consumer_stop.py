"""A consumer stopped just after a fetch failed still stops, and its caller
goes on (``clients.stop_consumer``, aio-libs/aiokafka#974)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer

from shared.kafka.clients import stop_consumer


class Client:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class Consumer:
    """What ``AIOKafkaConsumer.stop`` does with a fetch in its retry backoff:
    it cancels the fetch, awaits it, and the cancellation comes out of
    ``stop`` before the client is closed."""

    def __init__(self, fetch_failed: bool, stop_takes: float = 0) -> None:
        self._client = Client()
        self.fetch_failed = fetch_failed
        self.stop_takes = stop_takes

    async def stop(self) -> None:
        await asyncio.sleep(self.stop_takes)
        if self.fetch_failed:
            backoff = asyncio.ensure_future(asyncio.sleep(3600))
            await asyncio.sleep(0)
            backoff.cancel()
            await backoff
        await self._client.close()


def consumer(fake: Consumer) -> AIOKafkaConsumer:
    return cast(Any, fake)


async def test_a_fetch_waiting_to_retry_does_not_cancel_the_caller() -> None:
    fake = Consumer(fetch_failed=True)
    await stop_consumer(consumer(fake))
    assert fake._client.closed
    # The caller goes on: the rest of a shutdown still runs.
    task = asyncio.current_task()
    assert task is not None and not task.cancelling()


async def test_a_plain_stop_closes_once() -> None:
    fake = Consumer(fetch_failed=False)
    await stop_consumer(consumer(fake))
    assert fake._client.closed


async def test_a_caller_cancelled_while_stopping_is_cancelled() -> None:
    fake = Consumer(fetch_failed=True, stop_takes=3600)
    stopping = asyncio.ensure_future(stop_consumer(consumer(fake)))
    await asyncio.sleep(0)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert not fake._client.closed
