"""Consuming the three topics into the store, one transaction per batch.

The consumer starts each partition where the store says it stopped (the
store keeps its positions, written with the changes), so a store deleted or
replaced is rebuilt from the beginning of the topics, and one restored from
a backup resumes from where the backup was taken.

A record that cannot be read, or whose incident cannot be applied, goes to
the quarantine topic (``shared.kafka.quarantine``) and the partition moves
on; its quarantine record is acknowledged before the store's position passes
it. A database that does not answer is retried, the batch held, until it does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from aiokafka import ConsumerRecord, TopicPartition

from services.incidents.feed import ChangeFeed
from services.incidents.metrics import INVALID_RECORDS, TIME_TO_ACKNOWLEDGE, TIME_TO_RESOLVE
from services.incidents.revision import Revision
from services.incidents.store import IncidentStore
from services.incidents.store.database import TRANSIENT
from services.incidents.store.incidents import Applied, Message
from services.incidents.times import now_ms
from shared.config import TopicNames
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.decode import Readable, decoded
from shared.kafka.publisher import Publisher, PublishError, Record
from shared.kafka.quarantine import Quarantine
from shared.messages import Action, DeliveryOutcome, Incident

log = structlog.get_logger(__name__)

# A transition older than this when it is applied is history being read
# again (a rebuild, a long outage): it is not counted in the response-time
# histograms, which would otherwise show the past as happening now.
LIVE_HORIZON_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class _Read:
    record: ConsumerRecord
    message: Message

    @property
    def incident_id(self) -> str:
        message = self.message
        return message.id if isinstance(message, Revision | Incident) else message.incident_id


class Materializer:
    """The consume loop's handler: records in, store transactions out."""

    def __init__(
        self, store: IncidentStore, feed: ChangeFeed, topics: TopicNames, quarantine: Quarantine
    ):
        self.store = store
        self.feed = feed
        self.quarantine = quarantine
        self.models: dict[str, Readable[Message]] = {
            topics.incidents: Revision,
            topics.actions: Action,
            topics.notify_outcomes: DeliveryOutcome,
        }
        self.loop: ConsumerLoop | None = None
        self.publisher: Publisher | None = None
        self.stopping = asyncio.Event()
        self.retry_backoff = 0.5

    @property
    def topics(self) -> list[str]:
        return list(self.models)

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        assert self.loop is not None and self.loop.consumer is not None
        consumer = self.loop.consumer
        positions = await self.store.positions()
        for tp in partitions:
            position = positions.get((tp.topic, tp.partition))
            if position is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, position)
        log.info(
            "partitions assigned",
            partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in partitions),
        )

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        return None

    async def tick(self) -> list[Record]:
        return []

    async def handle(self, batch: Batch) -> list[Record]:
        reads: list[_Read] = []
        positions: dict[tuple[str, int], int] = {}
        # Records below the store's position come only when the topic was
        # recreated (the embedded broker restarted): they are new, and
        # anything already held is recognized by its event id.
        for tp, records in batch.items():
            model = self.models[tp.topic]
            for record, message in decoded(
                model, tp.partition, records, INVALID_RECORDS, self.quarantine
            ):
                reads.append(_Read(record, message))
            positions[(tp.topic, tp.partition)] = records[-1].offset + 1
        applied = await self._apply(reads, positions)
        if applied is None:
            return []  # stopping: the store keeps its positions, nothing is lost
        self._observe(applied)
        self.feed.publish([a.change for a in applied])
        return []

    async def _apply(
        self, reads: list[_Read], positions: dict[tuple[str, int], int]
    ) -> list[Applied] | None:
        delay = self.retry_backoff
        while not self.stopping.is_set():
            try:
                if not await self._quarantined():
                    return None
                return await self.store.apply([r.message for r in reads], positions)
            except TRANSIENT as exc:
                log.warning("store unavailable, retrying", error=str(exc), delay=delay)
            except Exception as exc:
                log.error("batch failed; applying its incidents one by one", error=repr(exc))
                return await self._one_by_one(reads, positions)
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, 10.0)
        return None

    async def _one_by_one(
        self, reads: list[_Read], positions: dict[tuple[str, int], int]
    ) -> list[Applied] | None:
        """Find what fails: each incident's records alone, the failing ones set aside."""
        applied: list[Applied] = []
        by_incident: dict[str, list[_Read]] = {}
        for read in reads:
            by_incident.setdefault(read.incident_id, []).append(read)
        for group in by_incident.values():
            try:
                applied += await self.store.apply([r.message for r in group], {})
            except TRANSIENT:
                raise
            except Exception as exc:
                for read in group:
                    self.quarantine.input("apply", exc, read.record)
        if not await self._quarantined():
            return None
        await self.store.apply([], positions)
        return applied

    async def _quarantined(self) -> bool:
        """Publish what was set aside, before the store's position passes it;
        False if asked to stop first."""
        records = self.quarantine.take()
        delay = self.retry_backoff
        while records:
            assert self.publisher is not None
            try:
                await self.publisher.publish(records)
                return True
            except PublishError as exc:
                log.warning("quarantine not written, retrying", error=str(exc))
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
                self.quarantine.pending[:0] = records  # still owed
                return False
            except TimeoutError:
                delay = min(delay * 2, 10.0)
        return True

    @staticmethod
    def _observe(applied: list[Applied]) -> None:
        live_since = now_ms() - LIVE_HORIZON_MS
        for result in applied:
            if result.acknowledged_ms is not None and result.acknowledged_ms > live_since:
                TIME_TO_ACKNOWLEDGE.labels(result.priority, result.team).observe(
                    max(0, result.acknowledged_ms - result.opened_ms) / 1000
                )
            if result.resolved_ms is not None and result.resolved_ms > live_since:
                TIME_TO_RESOLVE.labels(result.priority, result.team).observe(
                    max(0, result.resolved_ms - result.opened_ms) / 1000
                )
