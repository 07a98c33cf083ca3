"""Key-value state per partition, kept durable in a compacted Kafka topic.

The Kafka Streams pattern: a worker that owns input partition N keeps its
state for N in memory and writes every change to partition N of a compacted
changelog topic. When partition N is assigned to a worker (after a crash, a
restart or a rebalance) it replays changelog partition N up to its high-water
mark before handling input, and so starts exactly where the previous owner's
acknowledged writes left off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import structlog
from aiokafka import TopicPartition

from shared.config import KafkaSettings
from shared.kafka.clients import new_consumer
from shared.kafka.publisher import Record
from shared.messages.base import Message

log = structlog.get_logger(__name__)

V = TypeVar("V", bound=Message)


class ChangelogStore(Generic[V]):
    def __init__(self, settings: KafkaSettings, topic: str, decode: Callable[[bytes], V]):
        self.settings = settings
        self.topic = topic
        self.decode = decode
        self._data: dict[int, dict[str, V]] = {}

    def partition(self, partition: int) -> dict[str, V]:
        """The live state of one partition; read it, change it through ``put``."""
        return self._data.setdefault(partition, {})

    def get(self, partition: int, key: str) -> V | None:
        return self._data.get(partition, {}).get(key)

    def put(self, partition: int, key: str, value: V | None) -> Record:
        """Change state now; the returned record must be published before the
        input offset that caused the change is committed. ``None`` deletes."""
        state = self.partition(partition)
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
        return Record(self.topic, key, value, partition=partition)

    def items(self, partition: int) -> Iterator[tuple[str, V]]:
        return iter(list(self._data.get(partition, {}).items()))

    def drop(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._data.pop(partition, None)

    async def restore(self, partitions: set[int]) -> None:
        """Replay the changelog partitions to their high-water marks."""
        for partition in partitions:
            self._data[partition] = {}

        def apply(partition: int, key: str, value: bytes | None) -> None:
            state = self._data[partition]
            if value is None:
                state.pop(key, None)
            else:
                state[key] = self.decode(value)

        await replay(self.settings, self.topic, partitions, apply)


async def replay(
    settings: KafkaSettings,
    topic: str,
    partitions: set[int] | None,
    apply: Callable[[int, str, bytes | None], None],
) -> int:
    """Feed every record of the topic's partitions (``None``: all of them) to
    ``apply`` in order, up to their high-water marks; for state kept in a
    shape of its own, and for tools that read a whole topic."""
    if partitions is not None and not partitions:
        return 0
    consumer = new_consumer(settings, group_id=None)
    await consumer.start()
    try:
        if partitions is None:
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return 0
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = set(tps)
        count = 0
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=100, max_records=10_000)
            for tp, records in batch.items():
                for record in records:
                    apply(tp.partition, record.key.decode() if record.key else "", record.value)
                count += len(records)
            for tp in list(remaining):
                highwater = consumer.highwater(tp)
                if highwater is not None and await consumer.position(tp) >= highwater:
                    remaining.discard(tp)
            await asyncio.sleep(0)
        log.info("topic replayed", topic=topic, partitions=sorted(partitions), records=count)
        return count
    finally:
        await consumer.stop()


async def read_values(settings: KafkaSettings, topic: str) -> list[bytes]:
    """Every non-null value on a topic now, in order within each partition."""
    values: list[bytes] = []

    def keep(_partition: int, _key: str, value: bytes | None) -> None:
        if value is not None:
            values.append(value)

    await replay(settings, topic, None, keep)
    return values
