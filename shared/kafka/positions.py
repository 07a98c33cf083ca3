"""Where a consumer stands against the end of a partition.

``highwater()`` comes with every fetch response; ``end_offsets()`` and
``seek_to_end()`` are not reliable on every Kafka-compatible broker, so this
is the one way Corral asks "caught up yet?".
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition


async def lag(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """Records between the position and the high-water mark; None before the first fetch."""
    highwater: int | None = consumer.highwater(tp)
    if highwater is None:
        return None
    position: int = await consumer.position(tp)
    return max(0, highwater - position)


async def caught_up(consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
    """The consumer has read everything the partition held at its last fetch."""
    return await lag(consumer, tp) == 0
