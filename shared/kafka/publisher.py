"""Publishing messages and waiting for the broker's acknowledgement."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from shared.metrics import MESSAGES_PUBLISHED, PUBLISH_ERRORS

# Keys whose partition the publisher remembers before starting over: a few
# clusters for alerts, and the incidents updated lately.
_REMEMBERED_KEYS = 10_000


class Encoded(Protocol):
    """A message model, or a value some writer encoded itself."""

    def to_bytes(self) -> bytes: ...


class EncodedValue(NamedTuple):
    """A value its writer encoded, for the records a model is too slow to build for."""

    data: bytes

    def to_bytes(self) -> bytes:
        return self.data


class Record(NamedTuple):
    """One write: ``partition`` pins it (changelogs), else the key decides.

    A tuple, as writers build one per alert or state change: half the cost
    of a frozen dataclass."""

    topic: str
    key: str | None
    value: Encoded | None
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """One queued batch: ``records`` of ``topic`` acknowledged when ``future`` is done."""

    topic: str
    records: int
    future: asyncio.Future[object]


class PublishError(Exception):
    """The broker did not acknowledge a write; the caller must not commit."""


@dataclass(slots=True, eq=False)
class _OpenBatch:
    """Records for one partition, gathered from every writer until the next flush."""

    topic: str
    batch: BatchBuilder
    acked: asyncio.Future[object]


class Publisher:
    """Writes records in per-partition batches and waits for every acknowledgement.

    Records from every concurrent writer (ingest requests, notify's intents
    and outcomes, triage's batches) go into one open batch per partition,
    handed to the producer together once the writers of this event-loop turn
    have queued theirs. That skips aiokafka's per-message bookkeeping, which
    costs more than serializing an alert, and fills batches that separate
    writers would each send half empty, one round trip after another (aiokafka
    keeps one batch per partition in flight).
    """

    def __init__(self, producer: AIOKafkaProducer):
        self.producer = producer
        self.partitioner = DefaultPartitioner()
        self._open: dict[tuple[str, int], _OpenBatch] = {}
        self._chosen: dict[tuple[str, int, bytes | None], int] = {}
        self._flush: asyncio.Task[None] | None = None

    def _partition(self, topic: str, key: bytes | None, partitions: set[int]) -> int:
        # murmur2 runs in Python, per record; the keys of a webhook's alerts
        # (its cluster) repeat, so remember where each went. A record without
        # a key goes to a random partition: nothing to remember.
        chosen = (topic, len(partitions), key)
        partition = self._chosen.get(chosen)
        if partition is None:
            ordered = sorted(partitions)
            partition = int(self.partitioner(key, ordered, ordered))
            if key is not None:
                if len(self._chosen) >= _REMEMBERED_KEYS:
                    self._chosen.clear()
                self._chosen[chosen] = partition
        return partition

    async def publish(self, records: Iterable[Record]) -> None:
        """Write every record and return only when all are acknowledged."""
        await self.acknowledged(await self.queue(records))

    async def queue(self, records: Iterable[Record]) -> list[Pending]:
        """Add the records, in order, to the open batches, without awaiting the broker.

        Writers that must reach the broker in a given order queue under a
        common lock and await ``acknowledged`` outside it.
        """
        # Records of this call in each open batch they went to.
        counts: dict[_OpenBatch, int] = {}
        # Partitions of each topic, looked up once per call (the metadata
        # lookup builds a new set each time).
        known: dict[str, set[int]] = {}
        topic = ""
        try:
            for record in records:
                topic = record.topic
                key = None if record.key is None else record.key.encode()
                value = None if record.value is None else record.value.to_bytes()
                partition = record.partition
                if partition is None:
                    partitions = known.get(topic) or await self._partitions(topic, known)
                    partition = self._partition(topic, key, partitions)
                # The common case, appending to an open batch, awaits nothing:
                # this loop runs once per record.
                open_batch = self._open.get((topic, partition))
                if open_batch is None or not open_batch.batch.append(
                    key=key, value=value, timestamp=None
                ):
                    open_batch = await self._start_batch((topic, partition), key, value)
                counts[open_batch] = counts.get(open_batch, 0) + 1
        except KafkaError as exc:
            PUBLISH_ERRORS.labels(topic).inc()
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc
        if self._open and self._flush is None:
            self._flush = asyncio.create_task(self._send_open())
        return [Pending(batch.topic, count, batch.acked) for batch, count in counts.items()]

    async def _partitions(self, topic: str, known: dict[str, set[int]]) -> set[int]:
        partitions = self.producer.client.cluster.partitions_for_topic(topic)
        if partitions is None:  # no metadata for the topic yet
            partitions = await self.producer.partitions_for(topic)
        known[topic] = partitions
        return partitions

    async def _start_batch(
        self, tp: tuple[str, int], key: bytes | None, value: bytes | None
    ) -> _OpenBatch:
        """Send the partition's full batch, if any, and open the next with this record."""
        full = self._open.pop(tp, None)
        if full is not None:
            await self._send(tp, full)
        open_batch = self._open[tp] = _OpenBatch(
            tp[0], self.producer.create_batch(), asyncio.get_running_loop().create_future()
        )
        if open_batch.batch.append(key=key, value=value, timestamp=None) is None:
            del self._open[tp]
            raise MessageSizeTooLargeError(f"a record of {len(value or b'')} bytes")
        return open_batch

    async def _send_open(self) -> None:
        try:
            while self._open:
                tp, open_batch = next(iter(self._open.items()))
                del self._open[tp]
                await self._send(tp, open_batch)
        finally:
            self._flush = None

    async def _send(self, tp: tuple[str, int], open_batch: _OpenBatch) -> None:
        topic, partition = tp
        try:
            future = await self.producer.send_batch(open_batch.batch, topic, partition=partition)
        except KafkaError as exc:
            open_batch.acked.set_exception(exc)
            open_batch.acked.exception()  # the writers see it through acknowledged()
            return
        asyncio.ensure_future(future).add_done_callback(
            lambda done: _settle(open_batch.acked, done)
        )

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


def _settle(acked: asyncio.Future[object], done: asyncio.Future[object]) -> None:
    if acked.done():
        return
    if done.cancelled():
        acked.cancel()
    elif done.exception() is not None:
        acked.set_exception(done.exception())  # type: ignore[arg-type]
        acked.exception()
    else:
        acked.set_result(done.result())
