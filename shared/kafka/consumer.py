"""The consume loop every worker runs: fetch a batch, handle it, then commit.

Offsets are committed only after the handler returned, and a handler returns
only once everything it wrote was acknowledged. A crash anywhere before the
commit therefore redelivers the batch (at-least-once); handlers are written
to be idempotent so that a redelivery changes nothing downstream. The commit
goes out beside the next batch rather than before it: while one is on its
way, the offsets of the batches after it gather into the next. Revoked
partitions and a stopping loop wait for their commits.

What cannot be handled is set aside rather than retried forever: handlers
quarantine the records they fail on (``shared.kafka.quarantine``), and an
output the broker refuses is quarantined here, the rest of the batch written.
A watcher beside the loop keeps lag and stall figures current even while the
loop waits for the broker (``shared.kafka.progress``). A partition whose state
cannot be restored is never handled on empty state (``shared.kafka.restoring``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from shared.collector import batch_in_hand
from shared.config import KafkaSettings
from shared.kafka.acked import Stopping, publish_until_acked
from shared.kafka.clients import new_consumer, stop_consumer
from shared.kafka.progress import Progress
from shared.kafka.publisher import Publisher, PublishError, Record, Refusal
from shared.kafka.quarantine import Quarantine
from shared.kafka.restoring import Unrestored
from shared.memory import IdleTrim
from shared.metrics import BATCH_SECONDS, COMMITS, MESSAGES_CONSUMED

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
                await self.loop.committed()
                self.loop.unrestored.revoked(set(revoked))
                await self.loop.handler.on_revoked(set(revoked))
                self.loop.progress.revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self.loop.batch_lock:
            if assigned:
                try:
                    await self.loop.handler.on_assigned(set(assigned))
                except Exception as exc:
                    # aiokafka would log this and consume on empty state.
                    assert self.loop.consumer is not None
                    self.loop.unrestored.failed(self.loop.consumer, set(assigned), exc)
                self.loop.heap.due()
                self.loop.progress.assigned(assigned)
            self.loop.assigned.set()


class ConsumerLoop:
    def __init__(
        self,
        settings: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        handler: BatchHandler,
        publisher: Publisher,
        quarantine: Quarantine,
        retry_backoff: float = 0.5,
        tick_interval: float = 1.0,
        watch_interval: float = 1.0,
        co_partitioned: bool = False,
    ):
        """``co_partitioned``: partition N of every topic goes to the same
        consumer (range assignment; the topics must have as many partitions),
        for a handler that keeps one state per partition number across them."""
        self.settings = settings
        self.co_partitioned = co_partitioned
        self.group_id = group_id
        self.topics = list(topics)
        self.handler = handler
        self.publisher = publisher
        self.quarantine = quarantine
        self.retry_backoff = retry_backoff
        self.tick_interval = tick_interval
        self.watch_interval = watch_interval
        self.batch_lock = asyncio.Lock()
        self.assigned = asyncio.Event()
        self.unrestored = Unrestored(group_id)
        self.consumer: AIOKafkaConsumer | None = None
        self.progress = Progress(group_id, settings.stall_timeout.total_seconds())
        # The batch in hand, if any, and since when (the watcher asks the
        # broker for end offsets when the loop has been busy a while).
        self._in_hand: set[TopicPartition] = set()
        self._busy_since: float | None = None
        # Offsets of handled batches not yet committed, and the commit on its way.
        self._to_commit: dict[TopicPartition, int] = {}
        self._committing: asyncio.Task[None] | None = None
        # What a backlog's batches held in flight is given back once caught up.
        self.heap = IdleTrim(settings.max_batch)

    @property
    def ready(self) -> bool:
        """Joined the group, the state of every owned partition restored, and
        no partition stalled past ``kafka.stall_timeout``."""
        return self.assigned.is_set() and not self.unrestored and not self.progress.stalled()

    async def start(self) -> None:
        extra = {"partition_assignment_strategy": (RangePartitionAssignor,)}
        self.consumer = new_consumer(
            self.settings, self.group_id, **(extra if self.co_partitioned else {})
        )
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self.consumer.start()

    async def run(self, stop: asyncio.Event) -> None:
        assert self.consumer is not None, "start() first"
        consumer = self.consumer
        clock = asyncio.get_running_loop().time
        next_tick = clock() + self.tick_interval
        watcher = asyncio.create_task(self._watch(consumer, stop))
        try:
            while not stop.is_set():
                # The collector runs between two turns, once a turn's objects are gone.
                with batch_in_hand():
                    next_tick = await self._turn(consumer, stop, next_tick)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            with contextlib.suppress(KafkaError):
                await self.committed()

    async def _turn(
        self, consumer: AIOKafkaConsumer, stop: asyncio.Event, next_tick: float
    ) -> float:
        """Fetch, handle what came, tick when ``next_tick`` passed; the next
        tick's time. What the turn held is let go when it returns."""
        clock = asyncio.get_running_loop().time
        wait_ms = max(1, min(200, round((next_tick - clock()) * 1000)))
        batch = await consumer.getmany(timeout_ms=wait_ms, max_records=self.settings.max_batch)
        async with self.batch_lock:
            # A rebalance may have taken partitions between fetch and now.
            owned = consumer.assignment()
            batch = {
                tp: recs
                for tp, recs in batch.items()
                if tp in owned and recs and tp not in self.unrestored
            }
            self._busy_since = clock()
            if self.unrestored:
                await self.unrestored.retry(consumer, self.handler.on_assigned)
            if batch:
                await self._process(consumer, batch, stop)
            if clock() >= next_tick:
                next_tick = clock() + self.tick_interval
                await self._publish(await self.handler.tick(), stop)
                self.heap.tick()
            self._busy_since = None
            await self._observe(consumer)
        return next_tick

    async def _process(
        self,
        consumer: AIOKafkaConsumer,
        batch: dict[TopicPartition, Sequence[ConsumerRecord]],
        stop: asyncio.Event,
    ) -> None:
        """Handle ``batch``, publish what it gave, commit. The records are let
        go (``batch`` emptied) once handled: a batch's outputs wait for the
        broker without its inputs held beside them."""
        started = time.perf_counter()
        self._in_hand = set(batch)
        for tp in self._in_hand:
            self.progress.starting(tp, batch[tp][0].offset)
        try:
            outputs = await self.handler.handle(batch)
            outputs.extend(self.quarantine.take())
            ends = {tp: records[-1].offset + 1 for tp, records in batch.items()}
            counts = {tp: len(records) for tp, records in batch.items()}
            batch.clear()
            if not await self._publish(outputs, stop, input_topic=next(iter(ends)).topic):
                # Stopping with outputs unacknowledged: the offsets stay
                # uncommitted, so the batch is redelivered after the restart.
                return
        finally:
            self._in_hand = set()
        self._to_commit.update(ends)
        if self._committing is None or self._committing.done():
            if self._committing is not None:
                self._committing.result()  # a commit error ends the loop, as it would inline
            self._committing = asyncio.create_task(self._commit(consumer))
        for tp, count in counts.items():
            MESSAGES_CONSUMED.labels(self.group_id, tp.topic).inc(count)
        self.heap.handled(sum(counts.values()))
        BATCH_SECONDS.labels(self.group_id).observe(time.perf_counter() - started)

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Commit what was handled, again while more was handled meanwhile."""
        while self._to_commit:
            offsets, self._to_commit = self._to_commit, {}
            try:
                await consumer.commit(offsets)
                COMMITS.labels(self.group_id).inc()
                self.progress.finished(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # The group moved on (rebalance); the new owner redelivers and
                # the idempotent handler absorbs the repeat.
                log.warning("commit failed", group=self.group_id, error=str(exc))

    async def committed(self) -> None:
        """Until every handled batch's offsets are committed (or refused): the
        commit on its way takes whatever was handled before it ends."""
        if self._committing is not None:
            await asyncio.shield(self._committing)

    async def _publish(
        self, records: list[Record], stop: asyncio.Event, input_topic: str | None = None
    ) -> bool:
        """Publish until acknowledged, quarantining what the broker refuses;
        False if asked to stop first.

        A refusal the publisher sees coming (size) leaves that record out. One
        the broker answers fails a whole batch of records, so the records are
        written again in halves, in order, until the refused ones stand alone.
        """
        chunks = [records]
        while chunks:
            chunk = chunks[0]
            refused: list[Refusal] = []
            try:
                # Repeating the records may write some twice; every consumer
                # of Corral's topics is idempotent.
                await publish_until_acked(
                    self.publisher,
                    lambda: chunk,  # noqa: B023 (awaited before chunk changes)
                    stop,
                    initial_backoff=self.retry_backoff,
                    max_backoff=10.0,
                    refused=refused,
                )
            except Stopping:
                return False
            except PublishError as exc:  # refused: writing it again cannot succeed
                if len(chunk) > 1:
                    half = len(chunk) // 2
                    chunks[0:1] = [chunk[:half], chunk[half:]]
                    continue
                refused.append(Refusal(chunk[0], _encoded(chunk[0]), str(exc)))
            chunks.pop(0)
            for refusal in refused:
                self.quarantine.refused(refusal, input_topic)
            set_aside = self.quarantine.take()
            if set_aside:
                chunks.append(set_aside)
        return True

    async def _observe(self, consumer: AIOKafkaConsumer, ask_broker: bool = False) -> None:
        """Lag and stall figures of every owned partition. highwater() comes
        with every fetch response; while the loop is stuck on a batch nothing
        is fetched, so the watcher then asks the broker for the end offsets."""
        owned = consumer.assignment()
        ends: dict[TopicPartition, int] = {}
        if ask_broker and owned:
            try:
                ends = await asyncio.wait_for(consumer.end_offsets(list(owned)), 5.0)
            except (KafkaError, TimeoutError) as exc:
                log.debug("end offsets unavailable", error=str(exc))
        for tp in owned:
            end = max(consumer.highwater(tp) or 0, ends.get(tp, 0)) or None
            done = None
            if tp not in self.progress.done and tp not in self._in_hand:
                with contextlib.suppress(IllegalStateError, KafkaError):
                    done = await consumer.position(tp)
            self.progress.observe(tp, end, done)

    async def _watch(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        clock = asyncio.get_running_loop().time
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.watch_interval)
            busy = self._busy_since is not None and clock() - self._busy_since > self.watch_interval
            if busy:
                await self._observe(consumer, ask_broker=True)

    async def stop(self) -> None:
        if self.consumer is not None:
            await stop_consumer(self.consumer)
            self.consumer = None


def _encoded(record: Record) -> bytes | None:
    return None if record.value is None else record.value.to_bytes()
