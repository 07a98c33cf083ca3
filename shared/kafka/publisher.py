"""Publishing messages and waiting for the broker's acknowledgement."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from shared.messages.base import Message
from shared.metrics import MESSAGES_PUBLISHED, PUBLISH_ERRORS


@dataclass(frozen=True, slots=True)
class Record:
    """One write: ``partition`` pins it (changelogs), else the key decides."""

    topic: str
    key: str | None
    value: Message | None
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """One queued batch: ``records`` of ``topic`` acknowledged when ``future`` is done."""

    topic: str
    records: int
    future: asyncio.Future[object]


class PublishError(Exception):
    """The broker did not acknowledge a write; the caller must not commit."""


class Publisher:
    """Writes records in per-partition batches and waits for every acknowledgement.

    Building one batch per partition (instead of ``producer.send`` per record)
    skips aiokafka's per-message bookkeeping, which otherwise costs more than
    serializing the alert itself.
    """

    def __init__(self, producer: AIOKafkaProducer):
        self.producer = producer
        self.partitioner = DefaultPartitioner()

    async def _partition(self, record: Record, key: bytes | None) -> int:
        if record.partition is not None:
            return record.partition
        partitions = sorted(await self.producer.partitions_for(record.topic))
        return int(self.partitioner(key, partitions, partitions))

    async def publish(self, records: Iterable[Record]) -> None:
        """Write every record and return only when all are acknowledged."""
        await self.acknowledged(await self.queue(records))

    async def queue(self, records: Iterable[Record]) -> list[Pending]:
        """Hand the records to the producer, in order, without awaiting the broker.

        Writers that must reach the broker in a given order queue under a
        common lock and await ``acknowledged`` outside it.
        """
        groups: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = {}
        try:
            for record in records:
                key = None if record.key is None else record.key.encode()
                value = None if record.value is None else record.value.to_bytes()
                partition = await self._partition(record, key)
                groups.setdefault((record.topic, partition), []).append((key, value))
            return [
                Pending(topic, count, future)
                for (topic, partition), items in groups.items()
                for count, future in await self._send(topic, partition, items)
            ]
        except KafkaError as exc:
            for topic, _ in groups:
                PUBLISH_ERRORS.labels(topic).inc()
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc

    async def acknowledged(self, pending: list[Pending]) -> None:
        """Wait for the broker; raise PublishError if any batch was refused."""
        results = await asyncio.gather(*(p.future for p in pending), return_exceptions=True)
        failed: BaseException | None = None
        for batch, result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                PUBLISH_ERRORS.labels(batch.topic).inc(batch.records)
                failed = failed or result
            else:
                MESSAGES_PUBLISHED.labels(batch.topic).inc(batch.records)
        if failed is not None:
            raise PublishError(f"{type(failed).__name__}: {failed}") from failed

    async def _send(
        self, topic: str, partition: int, items: list[tuple[bytes | None, bytes | None]]
    ) -> list[tuple[int, asyncio.Future[object]]]:
        """Queue ``items`` as as few batches as fit; (records, ack future) per batch."""
        sent = []
        batch, count = self.producer.create_batch(), 0
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:
                sent.append(
                    (count, await self.producer.send_batch(batch, topic, partition=partition))
                )
                batch, count = self.producer.create_batch(), 0
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise MessageSizeTooLargeError(f"a record of {len(value or b'')} bytes")
            count += 1
        sent.append((count, await self.producer.send_batch(batch, topic, partition=partition)))
        return sent
