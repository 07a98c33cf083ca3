"""Publishing messages and waiting for the broker's acknowledgement."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from aiokafka import AIOKafkaProducer, codec
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    UnsupportedForMessageFormatError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from shared.cache import BoundedCache
from shared.kafka import zstd
from shared.metrics import MESSAGES_PUBLISHED, PUBLISH_ERRORS

if TYPE_CHECKING:
    from shared.config import KafkaSettings

# Keys whose partition the publisher remembers before starting over: a few
# clusters for alerts, and the incidents updated lately.
_REMEMBERED_KEYS = 10_000
# Kafka's own default for a topic's max.message.bytes (message.max.bytes).
KAFKA_MAX_MESSAGE_BYTES = 1_048_588
# Room for the batch and record headers around a record alone in its batch.
_BATCH_OVERHEAD = 128
# What the broker answers about a record itself: sending it again cannot help.
REFUSALS = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTimestampError,
    UnsupportedForMessageFormatError,
)
_COMPRESS = {
    "gzip": codec.gzip_encode,
    "snappy": codec.snappy_encode,
    "lz4": codec.lz4_encode,
    "zstd": zstd.encode,
}


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

    A tuple, as writers build one per alert or state change: cheaper to
    build than a frozen dataclass."""

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
    """The broker did not acknowledge a write; the caller must not commit.

    ``refused`` when the broker (or the size check before it) refused a record
    for what it is: writing it again cannot succeed, and a caller that retried
    forever would stall its partition. Anything else (timeouts, leader
    changes, a broker down) may pass on a retry.
    """

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


class Refusal(NamedTuple):
    """A record left out of a write because the broker would refuse it."""

    record: Record
    data: bytes | None
    reason: str


def refuses(exc: BaseException) -> bool:
    """Whether a failed write was refused for its records (not a passing fault)."""
    return isinstance(exc, REFUSALS)


@dataclass(slots=True, eq=False)
class _OpenBatch:
    """Records for one partition, gathered from every writer until the next flush."""

    topic: str
    batch: BatchBuilder
    acked: asyncio.Future[object]


def limits(settings: KafkaSettings) -> dict[str, Any]:
    """The ``Publisher`` arguments that make it refuse what the broker would."""
    return {"max_record_bytes": settings.max_message_bytes, "compression": settings.compression}


class Publisher:
    """Writes records in per-partition batches and waits for every acknowledgement.

    Records from every concurrent writer (ingest requests, notify's intents
    and outcomes, triage's batches) go into one open batch per partition.
    That skips aiokafka's per-message bookkeeping, which costs more than
    serializing an alert, and fills batches that separate writers would each
    send half empty, one round trip after another.

    A partition's open batch goes to the producer as soon as the writers of
    this event-loop turn have queued theirs, unless the partition's previous
    batch is still on its way to the broker: then it keeps gathering until
    that one is acknowledged (Nagle's algorithm, per partition). An idle
    pipeline thus writes at once, without a linger delay on every hop, and a
    busy one sends one full batch per partition and round trip instead of a
    queue of small ones (aiokafka sends one batch per partition per request).
    """

    def __init__(
        self,
        producer: AIOKafkaProducer,
        max_record_bytes: int = KAFKA_MAX_MESSAGE_BYTES,
        compression: str = "none",
    ):
        self.producer = producer
        self.max_record_bytes = max_record_bytes
        self._compress = _COMPRESS.get(compression)
        self.partitioner = DefaultPartitioner()
        self._open: dict[tuple[str, int], _OpenBatch] = {}
        self._chosen: BoundedCache[tuple[str, int, bytes], int] = BoundedCache(_REMEMBERED_KEYS)
        self._flush: asyncio.Task[None] | None = None
        # Batches handed to the producer and not yet answered, per partition.
        self._in_flight: dict[tuple[str, int], int] = {}

    def _partition(self, topic: str, key: bytes | None, partitions: set[int]) -> int:
        # murmur2 runs in Python, per record; the keys of a webhook's alerts
        # (its cluster) repeat, so remember where each went. A record without
        # a key goes to a random partition: nothing to remember.
        chosen = None if key is None else (topic, len(partitions), key)
        partition = None if chosen is None else self._chosen.get(chosen)
        if partition is None:
            ordered = sorted(partitions)
            partition = int(self.partitioner(key, ordered, ordered))
            if chosen is not None:
                self._chosen.put(chosen, partition)
        return partition

    def too_large(self, key: bytes | None, value: bytes | None) -> str | None:
        """Why the broker would refuse this record for its size, or None.

        The broker measures the (compressed) batch, so a record over the limit
        is compressed once to see; only records that large pay for it.
        """
        size = len(value or b"") + len(key or b"") + _BATCH_OVERHEAD
        if size <= self.max_record_bytes:
            return None
        if self._compress is not None and value:
            size = len(self._compress(value)) + len(key or b"") + _BATCH_OVERHEAD
            if size <= self.max_record_bytes:
                return None
        return (
            f"record of {len(value or b'')} bytes is over the limit of {self.max_record_bytes} "
            "(kafka.max_message_bytes, the topics' max.message.bytes)"
        )

    async def publish(
        self, records: Iterable[Record], refused: list[Refusal] | None = None
    ) -> None:
        """Write every record and return only when all are acknowledged."""
        await self.acknowledged(await self.queue(records, refused))

    async def queue(
        self, records: Iterable[Record], refused: list[Refusal] | None = None
    ) -> list[Pending]:
        """Add the records, in order, to the open batches, without awaiting the broker.

        Writers that must reach the broker in a given order queue under a
        common lock and await ``acknowledged`` outside it. A record too large
        for the broker goes to ``refused`` and the rest are written; without
        ``refused`` it raises a refused ``PublishError``.
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
                if value is not None and len(value) > self.max_record_bytes:
                    reason = self.too_large(key, value)
                    if reason is not None:
                        _refuse(record, value, reason, refused)
                        continue
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
                    if open_batch is None:
                        reason = f"record of {len(value or b'')} bytes does not fit in a batch"
                        _refuse(record, value, reason, refused)
                        continue
                counts[open_batch] = counts.get(open_batch, 0) + 1
        except KafkaError as exc:
            PUBLISH_ERRORS.labels(topic).inc()
            raise PublishError(f"{type(exc).__name__}: {exc}", refuses(exc)) from exc
        finally:
            # Even when this call failed, what it and others queued goes out.
            if self._open and self._flush is None:
                self._flush = asyncio.create_task(self._send_open())
        return [Pending(batch.topic, count, batch.acked) for batch, count in counts.items()]

    async def _partitions(self, topic: str, known: dict[str, set[int]]) -> set[int]:
        partitions: set[int] | None = self.producer.client.cluster.partitions_for_topic(topic)
        if partitions is None:  # no metadata for the topic yet
            partitions = set(await self.producer.partitions_for(topic))
        known[topic] = partitions
        return partitions

    async def _start_batch(
        self, tp: tuple[str, int], key: bytes | None, value: bytes | None
    ) -> _OpenBatch | None:
        """Send the partition's full batch, if any, and open the next with this
        record; None if the record does not fit even in an empty batch."""
        full = self._open.pop(tp, None)
        if full is not None:
            # Other writers' records are in it: a writer that is cancelled
            # while the producer makes room (its request timed out) must not
            # take their send down with it.
            await asyncio.shield(self._hand_over(tp, full))
            # Another writer may have opened the partition's next batch meanwhile.
            opened = self._open.get(tp)
            if opened is not None:
                if opened.batch.append(key=key, value=value, timestamp=None) is not None:
                    return opened
                return await self._start_batch(tp, key, value)
        open_batch = self._open[tp] = _OpenBatch(
            tp[0], self.producer.create_batch(), asyncio.get_running_loop().create_future()
        )
        if open_batch.batch.append(key=key, value=value, timestamp=None) is None:
            del self._open[tp]
            return None
        return open_batch

    async def _send_open(self) -> None:
        """Hand over every open batch whose partition has none in flight."""
        try:
            while True:
                tp = next((tp for tp in self._open if tp not in self._in_flight), None)
                if tp is None:
                    return
                await self._hand_over(tp, self._open.pop(tp))
        finally:
            self._flush = None

    def _hand_over(self, tp: tuple[str, int], open_batch: _OpenBatch) -> Awaitable[None]:
        # Counted before the first await, so that no other writer's batch for
        # the partition overtakes this one on its way to the producer.
        self._in_flight[tp] = self._in_flight.get(tp, 0) + 1
        return self._send(tp, open_batch)

    async def _send(self, tp: tuple[str, int], open_batch: _OpenBatch) -> None:
        topic, partition = tp
        try:
            future = await self.producer.send_batch(open_batch.batch, topic, partition=partition)
        except BaseException as exc:
            self._landed(tp)
            if not isinstance(exc, KafkaError):
                open_batch.acked.cancel()
                raise
            open_batch.acked.set_exception(exc)
            open_batch.acked.exception()  # the writers see it through acknowledged()
            return

        def answered(done: asyncio.Future[object]) -> None:
            _settle(open_batch.acked, done)
            self._landed(tp)

        asyncio.ensure_future(future).add_done_callback(answered)

    def _landed(self, tp: tuple[str, int]) -> None:
        """One of the partition's batches was answered: send what gathered meanwhile."""
        left = self._in_flight.pop(tp) - 1
        if left:
            self._in_flight[tp] = left
        elif tp in self._open and self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._send_open())

    async def acknowledged(self, pending: list[Pending]) -> None:
        """Wait for the broker; raise PublishError if any batch was refused.

        The futures are shared with every writer whose records went into the
        same batches, so a caller that gives up (a request's timeout) stops
        waiting without cancelling them: ``asyncio.wait``, unlike ``gather``,
        leaves what it waits for alone.
        """
        futures = {p.future for p in pending}
        if futures:
            await asyncio.wait(futures)
        failed: BaseException | None = None
        for batch in pending:
            future = batch.future
            error = (
                asyncio.CancelledError("the write was cancelled")
                if future.cancelled()
                else future.exception()
            )
            if error is not None:
                PUBLISH_ERRORS.labels(batch.topic).inc(batch.records)
                if failed is None or (refuses(error) and not refuses(failed)):
                    failed = error
            else:
                MESSAGES_PUBLISHED.labels(batch.topic).inc(batch.records)
        if failed is not None:
            raise PublishError(f"{type(failed).__name__}: {failed}", refuses(failed)) from failed


def _refuse(
    record: Record, value: bytes | None, reason: str, refused: list[Refusal] | None
) -> None:
    PUBLISH_ERRORS.labels(record.topic).inc()
    if refused is None:
        raise PublishError(f"{record.topic}: {reason}", refused=True)
    refused.append(Refusal(record, value, reason))


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
