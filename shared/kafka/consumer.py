"""The consume loop every worker runs: fetch a batch, handle it, then commit.

Offsets are committed only after the handler returned, and a handler returns
only once everything it wrote was acknowledged. A crash anywhere before the
commit therefore redelivers the batch (at-least-once); handlers are written
to be idempotent so that a redelivery changes nothing downstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from shared.config import KafkaSettings
from shared.kafka.clients import new_consumer
from shared.kafka.publisher import Publisher, PublishError, Record
from shared.metrics import BATCH_SECONDS, COMMITS, CONSUMER_LAG, MESSAGES_CONSUMED

log = structlog.get_logger(__name__)

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord]]


class BatchHandler(Protocol):
    async def handle(self, batch: Batch) -> list[Record]:
        """Process records in partition order and return what to publish.

        The loop publishes the returned records, retrying until the broker
        acknowledges them, and only then commits the batch's offsets.
        """

    async def tick(self) -> list[Record]:
        """Time-driven work (quiet periods, repeats, expiry) between batches.

        Called every ``tick_interval`` whether or not records arrived, under
        the same lock as ``handle``; what it returns is published the same way.
        """

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        """Load state for newly owned partitions before their records arrive."""

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        """Drop state for partitions another consumer now owns."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumerLoop):
        self.loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Wait for the batch in hand to finish and commit, so the next owner
        # starts exactly where this one stopped.
        async with self.loop.batch_lock:
            if revoked:
                await self.loop.handler.on_revoked(set(revoked))
                for tp in revoked:
                    CONSUMER_LAG.remove(self.loop.group_id, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self.loop.batch_lock:
            if assigned:
                await self.loop.handler.on_assigned(set(assigned))
            self.loop.assigned.set()


class ConsumerLoop:
    def __init__(
        self,
        settings: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        handler: BatchHandler,
        publisher: Publisher,
        retry_backoff: float = 0.5,
        tick_interval: float = 1.0,
    ):
        self.settings = settings
        self.group_id = group_id
        self.topics = list(topics)
        self.handler = handler
        self.publisher = publisher
        self.retry_backoff = retry_backoff
        self.tick_interval = tick_interval
        self.batch_lock = asyncio.Lock()
        self.assigned = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None

    @property
    def ready(self) -> bool:
        return self.assigned.is_set()

    async def start(self) -> None:
        self.consumer = new_consumer(self.settings, self.group_id)
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self.consumer.start()

    async def run(self, stop: asyncio.Event) -> None:
        assert self.consumer is not None, "start() first"
        consumer = self.consumer
        clock = asyncio.get_running_loop().time
        next_tick = clock() + self.tick_interval
        while not stop.is_set():
            wait_ms = max(1, min(200, round((next_tick - clock()) * 1000)))
            batch = await consumer.getmany(timeout_ms=wait_ms, max_records=self.settings.max_batch)
            async with self.batch_lock:
                # A rebalance may have taken partitions between fetch and now.
                owned = consumer.assignment()
                batch = {tp: records for tp, records in batch.items() if tp in owned and records}
                if batch:
                    await self._process(consumer, batch, stop)
                if clock() >= next_tick:
                    next_tick = clock() + self.tick_interval
                    await self._publish(await self.handler.tick(), stop)
                await self._record_lag(consumer)

    async def _process(self, consumer: AIOKafkaConsumer, batch: Batch, stop: asyncio.Event) -> None:
        started = time.perf_counter()
        outputs = await self.handler.handle(batch)
        if not await self._publish(outputs, stop):
            # Stopping with outputs unacknowledged: the offsets stay
            # uncommitted, so the batch is redelivered after the restart.
            return
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        try:
            await consumer.commit(offsets)
            COMMITS.labels(self.group_id).inc()
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved on (rebalance); the new owner redelivers and the
            # idempotent handler absorbs the repeat.
            log.warning("commit failed", group=self.group_id, error=str(exc))
        for tp, records in batch.items():
            MESSAGES_CONSUMED.labels(self.group_id, tp.topic).inc(len(records))
        BATCH_SECONDS.labels(self.group_id).observe(time.perf_counter() - started)

    async def _publish(self, records: list[Record], stop: asyncio.Event) -> bool:
        """Publish until acknowledged; False if asked to stop first."""
        delay = self.retry_backoff
        while True:
            try:
                await self.publisher.publish(records)
                return True
            except PublishError as exc:
                # Repeating the whole batch may write some records twice;
                # every consumer of Corral's topics is idempotent.
                log.warning("publish failed, retrying", group=self.group_id, error=str(exc))
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return False
            except TimeoutError:
                delay = min(delay * 2, 10.0)

    async def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        # highwater() comes with every fetch response; end_offsets() is not
        # reliable on every Kafka-compatible broker.
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                position = await consumer.position(tp)
                CONSUMER_LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(
                    max(0, highwater - position)
                )

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
