"""No invisible stall: a consumer that cannot make progress says so.

Before, a publisher stuck on a write kept the loop in its retry: readiness
stayed 200, the lag gauge froze (it was only updated between batches), and
a record the broker refused was retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.publisher import EncodedValue, Publisher, PublishError, Record, Refusal
from shared.kafka.quarantine import Quarantine
from shared.messages.quarantine import Quarantined
from shared.service import bound_port, health_routes, start_http
from tests.helpers import read_topic

pytestmark = pytest.mark.broker


class Echo:
    """Copies every record to another topic."""

    def __init__(self, topic: str):
        self.topic = topic

    async def handle(self, batch: Batch) -> list[Record]:
        return [
            Record(self.topic, None, EncodedValue(r.value or b""))
            for records in batch.values()
            for r in records
        ]

    async def tick(self) -> list[Record]:
        return []

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        pass

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        pass


class Faulty(Publisher):
    """The real publisher, unless told the broker is away or refuses a value."""

    down = False
    refuse: bytes | None = None

    async def publish(
        self, records: Iterable[Record], refused: list[Refusal] | None = None
    ) -> None:
        records = list(records)
        if self.down:
            raise PublishError("KafkaTimeoutError: the broker does not answer")
        if any(isinstance(r.value, EncodedValue) and r.value.data == self.refuse for r in records):
            raise PublishError("MessageSizeTooLargeError: refused", refused=True)
        await super().publish(records, refused)


@contextlib.asynccontextmanager
async def consuming(kafka: KafkaSettings) -> AsyncIterator[tuple[ConsumerLoop, Faulty, str]]:
    settings = kafka.model_copy(update={"stall_timeout": timedelta(seconds=1), "partitions": 1})
    producer = new_producer(settings)
    await producer.start()
    publisher = Faulty(producer)
    group = f"stall-{kafka.topics.alerts}"
    loop = ConsumerLoop(
        settings,
        group,
        [kafka.topics.alerts],
        Echo(kafka.topics.incidents),
        publisher,
        Quarantine("test", kafka.topics.quarantine, settings.max_message_bytes),
        watch_interval=0.2,
    )
    await loop.start()
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        async with asyncio.timeout(20):
            while not loop.ready:
                await asyncio.sleep(0.05)
        yield loop, publisher, group
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await loop.stop()
        await producer.stop()


async def send(kafka: KafkaSettings, *values: bytes) -> None:
    producer = new_producer(kafka)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(kafka.topics.alerts, value, partition=0)
    finally:
        await producer.stop()


def gauge(name: str, group: str, topic: str) -> float:
    labels = {"group": group, "topic": topic, "partition": "0"}
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def ready_status(loop: ConsumerLoop) -> int:
    app = web.Application()
    app.add_routes(health_routes(lambda: loop.ready))
    runner = await start_http(app, "127.0.0.1:0")
    try:
        url = f"http://127.0.0.1:{bound_port(runner)}/-/ready"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status
    finally:
        await runner.cleanup()


async def eventually(check: object, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.1)


async def test_a_stuck_publisher_shows_in_lag_stall_and_readiness(kafka: KafkaSettings) -> None:
    topic = kafka.topics.alerts
    async with consuming(kafka) as (loop, publisher, group):
        publisher.down = True
        await send(kafka, b"first")
        await eventually(lambda: gauge("corral_consumer_lag_messages", group, topic) == 1)
        # More records arrive while the loop is stuck on the first: lag moves.
        await send(kafka, b"second", b"third")
        await eventually(lambda: gauge("corral_consumer_lag_messages", group, topic) == 3)
        await eventually(lambda: not loop.ready)
        await eventually(lambda: gauge("corral_consumer_stalled_seconds", group, topic) > 1)
        assert await ready_status(loop) == 503
        # The broker is back: progress, lag drains, ready again.
        publisher.down = False
        await eventually(lambda: gauge("corral_consumer_lag_messages", group, topic) == 0)
        await eventually(lambda: loop.ready)
        assert gauge("corral_consumer_stalled_seconds", group, topic) == 0
        assert await ready_status(loop) == 200
    echoed = await read_topic(kafka, kafka.topics.incidents)
    assert sorted(set(echoed)) == [b"first", b"second", b"third"]


async def test_a_record_the_broker_refuses_is_quarantined_not_retried_forever(
    kafka: KafkaSettings,
) -> None:
    topic = kafka.topics.alerts
    async with consuming(kafka) as (loop, publisher, group):
        publisher.refuse = b"poison"
        await send(kafka, b"a", b"b", b"poison", b"c", b"d")
        async with asyncio.timeout(10):
            while len(set(echoed := await read_topic(kafka, kafka.topics.incidents))) < 4:
                await asyncio.sleep(0.1)
        await eventually(lambda: gauge("corral_consumer_lag_messages", group, topic) == 0)
        assert loop.ready
    assert sorted(set(echoed)) == [b"a", b"b", b"c", b"d"]
    [entry] = [Quarantined.from_bytes(v) for v in await read_topic(kafka, kafka.topics.quarantine)]
    assert (entry.worker, entry.stage, entry.output_topic) == (
        "test",
        "publish",
        kafka.topics.incidents,
    )
    assert entry.value == b"poison" and "MessageSizeTooLargeError" in entry.error
