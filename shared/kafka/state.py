"""State kept durable in compacted Kafka topics: the one state layer every worker uses.

The Kafka Streams pattern. A worker that owns input partition N keeps its
state for N in memory and writes every change to partition N of a compacted
changelog topic:

* **restore**: when N is assigned (after a crash, a restart, a rebalance),
  changelog partition N is read to its high-water mark into a ``Restorer``,
  which builds the partition's state; the state is installed only once
  complete. Only the last value of each key is decoded (``LatestValues``):
  that is what a compacted topic means, and it lets a later record or a
  tombstone repair an unreadable one. A last value that cannot be read
  raises ``RestoreError`` and nothing is installed: the consume loop then
  keeps N paused and the worker not ready, since handling N on empty state
  would open duplicate incidents or page twice.
* **write-behind**: the owner changes state in memory, then writes the
  changed keys (``record``, or ``save`` off the consume loop) and has them
  acknowledged before anything relies on them: an offset commit, a send.
* **tombstones**: a ``None`` value deletes a key, on the topic and on restore.
* **catch-up**: ``read_to_end`` reads partitions to their high-water marks;
  a ``TableFollower`` reads a whole topic every worker needs (silences),
  then follows it live.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, Protocol, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.config import KafkaSettings
from shared.kafka.acked import publish_until_acked
from shared.kafka.clients import new_consumer, stop_consumer
from shared.kafka.positions import caught_up
from shared.kafka.publisher import Encoded, Publisher, Record

log = structlog.get_logger(__name__)

S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)
V = TypeVar("V")

Apply = Callable[[int, str, bytes | None], None]
"""Takes one record: its partition, its key and its value (None: a tombstone)."""


class RestoreError(Exception):
    """A changelog partition that cannot be read; its input must not be handled."""

    def __init__(self, topic: str, partition: int, detail: str):
        super().__init__(f"{topic} partition {partition}: {detail}")
        self.topic = topic
        self.partition = partition


class UnreadableValue(Exception):
    """The last value of a changelog key, which its restorer cannot decode."""

    def __init__(self, key: str, cause: Exception):
        super().__init__(f"key {key!r}: {type(cause).__name__}: {cause}")
        self.key = key


async def _from_beginning(
    settings: KafkaSettings, topic: str, partitions: set[int] | None, **extra: object
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """A started consumer outside any group, assigned ``partitions`` (None: all)
    of ``topic`` from their beginnings; the caller stops it."""
    consumer = new_consumer(settings, group_id=None, **extra)
    await consumer.start()
    try:
        if partitions is None:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if tps:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
    except BaseException:
        await stop_consumer(consumer)
        raise
    return consumer, tps


async def read_to_end(
    settings: KafkaSettings, topic: str, partitions: set[int] | None, apply: Apply
) -> int:
    """Feed every record of ``partitions`` (None: all of them) to ``apply``, in
    order, up to their high-water marks; the number of records read.

    An exception from ``apply`` stops the read as a ``RestoreError`` naming
    the record."""
    if partitions is not None and not partitions:
        return 0
    consumer, tps = await _from_beginning(settings, topic, partitions)
    try:
        remaining = set(tps)
        count = 0
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=100, max_records=10_000)
            for tp, records in batch.items():
                for record in records:
                    key = record.key.decode(errors="replace") if record.key else ""
                    try:
                        apply(tp.partition, key, record.value)
                    except Exception as exc:
                        detail = f"offset {record.offset} key {key!r}: {type(exc).__name__}: {exc}"
                        raise RestoreError(topic, tp.partition, detail) from exc
                count += len(records)
            for tp in list(remaining):
                if await caught_up(consumer, tp):
                    remaining.discard(tp)
            await asyncio.sleep(0)
        log.info("topic read", topic=topic, partitions=[tp.partition for tp in tps], records=count)
        return count
    finally:
        await stop_consumer(consumer)


async def read_values(settings: KafkaSettings, topic: str) -> list[bytes]:
    """Every non-null value on a topic now, in order within each partition."""
    values: list[bytes] = []

    def keep(_partition: int, _key: str, value: bytes | None) -> None:
        if value is not None:
            values.append(value)

    await read_to_end(settings, topic, None, keep)
    return values


class Restorer(Protocol[S_co]):
    """Builds one partition's state from its changelog records."""

    def apply(self, key: str, value: bytes | None) -> None:
        """One record, in order."""

    def build(self) -> S_co:
        """The state, once every record up to the high-water mark was applied;
        ``UnreadableValue`` if a key's last value cannot be read."""


class LatestValues:
    """The last value of each key, as read so far; decoded once all is read."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = value

    def decoded(self, decode: Callable[[str, bytes], V]) -> Iterator[tuple[str, V]]:
        """Each key with ``decode(key, value)``; ``UnreadableValue`` names a key
        whose value cannot be decoded."""
        for key, value in self.values.items():
            try:
                yield key, decode(key, value)
            except Exception as exc:
                raise UnreadableValue(key, exc) from exc


class StateStore(Generic[S]):
    """One worker's state per owned partition, restored from and written to ``topic``."""

    def __init__(
        self, settings: KafkaSettings, topic: str, restorer: Callable[[], Restorer[S]]
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.restorer = restorer
        self.partitions: dict[int, S] = {}
        self._order: dict[int, asyncio.Lock] = {}

    async def restore(self, partitions: set[int]) -> None:
        """Read the changelog partitions to their ends and install their state;
        on ``RestoreError`` none of them is installed."""
        restorers = {partition: self.restorer() for partition in partitions}

        def apply(partition: int, key: str, value: bytes | None) -> None:
            restorers[partition].apply(key, value)

        await read_to_end(self.settings, self.topic, set(restorers), apply)
        built = {}
        for partition, restorer in restorers.items():
            try:
                built[partition] = restorer.build()
            except UnreadableValue as exc:
                raise RestoreError(self.topic, partition, str(exc)) from exc
        self.partitions.update(built)

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.partitions.pop(partition, None)
            self._order.pop(partition, None)

    def record(self, partition: int, key: str, value: Encoded | None) -> Record:
        """The changelog write for a change already made in memory (None: a
        tombstone); it must be acknowledged before what relies on it."""
        return Record(self.topic, key, value, partition=partition)

    async def save(
        self,
        publisher: Publisher,
        partition: int,
        values: Callable[[], Iterable[tuple[str, Encoded | None]]],
        stop: asyncio.Event,
    ) -> None:
        """Write ``values()`` (asked anew at every retry, so a retried write
        carries the newest state) until acknowledged; writes of one partition
        reach the broker in the order they were saved."""
        lock = self._order.setdefault(partition, asyncio.Lock())
        await publish_until_acked(
            publisher,
            lambda: [self.record(partition, key, value) for key, value in values()],
            stop,
            order=lock,
        )


class TableFollower:
    """A whole topic that every worker reads (no consumer group), from the
    beginning, and follows for as long as it runs: Kafka Streams' global table."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        apply: Callable[[str, bytes | None], None],
        fetch_max_wait_ms: int,
    ):
        self.settings = settings
        self.topic = topic
        self.apply = apply
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer, tps = await _from_beginning(
            self.settings, self.topic, None, fetch_max_wait_ms=self.fetch_max_wait_ms
        )
        self._consumer = consumer
        if not tps:
            raise RuntimeError(f"topic {self.topic} does not exist")
        self._task = asyncio.create_task(self._follow(consumer, tps))

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self.caught_up.wait(), timeout)

    async def _follow(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        behind = set(tps)
        while True:
            # Short waits while catching up: the worker is not ready before.
            wait_ms = 50 if behind else self.fetch_max_wait_ms
            batch = await consumer.getmany(timeout_ms=wait_ms, max_records=10_000)
            for records in batch.values():
                for record in records:
                    self.apply(record.key.decode() if record.key else "", record.value)
            if behind:
                for tp in list(behind):
                    if await caught_up(consumer, tp):
                        behind.discard(tp)
                if not behind:
                    log.info("topic caught up; following it", topic=self.topic)
                    self.caught_up.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await stop_consumer(self._consumer)
            self._consumer = None
