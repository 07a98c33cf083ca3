"""Consuming the three topics into the store, one transaction per batch.

The consumer starts each partition where the store says it stopped (the
store keeps its positions, written with the changes), so a store deleted or
replaced is rebuilt from the beginning of the topics, and one restored from
a backup resumes from where the backup was taken.

A record that cannot be read, or whose incident cannot be applied, is
quarantined in the store (table ``corral_quarantine``, counted in
``corral_incidents_quarantined_records_total``) and the partition moves on;
a database that does not answer is retried, the batch held, until it does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from aiokafka import ConsumerRecord, TopicPartition
from pydantic import ValidationError

from services.incidents.feed import ChangeFeed
from services.incidents.metrics import (
    RECORDS_QUARANTINED,
    TIME_TO_ACKNOWLEDGE,
    TIME_TO_RESOLVE,
)
from services.incidents.store import IncidentStore
from services.incidents.store.database import TRANSIENT
from services.incidents.store.incidents import Applied, Message, Quarantined
from services.incidents.times import now_ms
from shared.config import TopicNames
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.publisher import Record
from shared.messages import Action, DeliveryOutcome, Incident

log = structlog.get_logger(__name__)

# A transition older than this when it is applied is history being read
# again (a rebuild, a long outage): it is not counted in the response-time
# histograms, which would otherwise show the past as happening now.
LIVE_HORIZON_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class _Read:
    record: ConsumerRecord
    topic: str
    partition: int
    message: Message


class Materializer:
    """The consume loop's handler: records in, store transactions out."""

    def __init__(self, store: IncidentStore, feed: ChangeFeed, topics: TopicNames):
        self.store = store
        self.feed = feed
        self.models: dict[str, type[Message]] = {
            topics.incidents: Incident,
            topics.actions: Action,
            topics.notify_outcomes: DeliveryOutcome,
        }
        self.loop: ConsumerLoop | None = None
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
        quarantined: list[Quarantined] = []
        positions: dict[tuple[str, int], int] = {}
        for tp, records in batch.items():
            model = self.models[tp.topic]
            # Records below the store's position come only when the topic was
            # recreated (the embedded broker restarted): they are new, and
            # anything already held is recognized by its event id.
            for record in records:
                try:
                    message = model.from_bytes(record.value or b"")
                except ValidationError as exc:
                    error = f"unreadable {model.__name__}: {exc}"
                    quarantined.append(_quarantine(tp, record, error))
                    continue
                reads.append(_Read(record, tp.topic, tp.partition, message))
            positions[(tp.topic, tp.partition)] = records[-1].offset + 1
        applied = await self._apply(reads, positions, quarantined)
        if applied is None:
            return []  # stopping: the store keeps its positions, nothing is lost
        for q in quarantined:
            RECORDS_QUARANTINED.labels(q.topic).inc()
            log.error(
                "record quarantined",
                topic=q.topic,
                partition=q.partition,
                offset=q.offset,
                error=q.error[:500],
            )
        self._observe(applied)
        self.feed.publish([a.change for a in applied])
        return []

    async def _apply(
        self,
        reads: list[_Read],
        positions: dict[tuple[str, int], int],
        quarantined: list[Quarantined],
    ) -> list[Applied] | None:
        delay = self.retry_backoff
        while not self.stopping.is_set():
            try:
                return await self.store.apply([r.message for r in reads], positions, quarantined)
            except TRANSIENT as exc:
                log.warning("store unavailable, retrying", error=str(exc), delay=delay)
            except Exception as exc:
                log.error("batch failed; applying its incidents one by one", error=repr(exc))
                return await self._one_by_one(reads, positions, quarantined)
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, 10.0)
        return None

    async def _one_by_one(
        self,
        reads: list[_Read],
        positions: dict[tuple[str, int], int],
        quarantined: list[Quarantined],
    ) -> list[Applied]:
        """Find what fails: each incident's records alone, the failing ones set aside."""
        applied: list[Applied] = []
        by_incident: dict[str, list[_Read]] = {}
        for read in reads:
            message = read.message
            key = message.id if isinstance(message, Incident) else message.incident_id
            by_incident.setdefault(key, []).append(read)
        for group in by_incident.values():
            try:
                applied += await self.store.apply([r.message for r in group], {})
            except TRANSIENT:
                raise
            except Exception as exc:
                quarantined += [
                    _quarantine(TopicPartition(r.topic, r.partition), r.record, repr(exc))
                    for r in group
                ]
        await self.store.apply([], positions, quarantined)
        return applied

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


def _quarantine(tp: TopicPartition, record: ConsumerRecord, error: str) -> Quarantined:
    return Quarantined(
        tp.topic,
        tp.partition,
        record.offset,
        record.key.decode(errors="replace") if record.key else None,
        error,
        record.value,
        now_ms(),
    )
