"""The triage worker: consumes ``corral.alerts``, runs the chain, publishes incidents.

A record the chain fails on is quarantined and the partition moves on: an
alert a correlation step raised on is set aside, the partition's state
restored from its changelog (the alerts before it may have half changed it),
and the batch run again without it; an incident that cannot be scored or
emitted is reported with its state, the rest of the batch going out as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from services.triage.causes import CauseSymptomPolicy
from services.triage.config import TriageConfig, TriageSettings
from services.triage.correlate import CorrelateStage, OpenStep
from services.triage.dedup import DedupStep
from services.triage.emit import EmitStage
from services.triage.flapping import FlappingStep
from services.triage.hold import GrowthHoldStage, HoldStage
from services.triage.journal import Journal
from services.triage.lifecycle import LifecycleStep, Timers
from services.triage.membership import Membership
from services.triage.metrics import (
    ALERTS_INVALID,
    FLAPPING_ALERTS,
    STATE_ALERTS,
    STATE_INCIDENTS,
)
from services.triage.records import OwnerRecord
from services.triage.scope import ScopePolicy
from services.triage.scoring.stage import ScoringStage
from services.triage.servicemap import ServiceMap
from services.triage.stages import AlertFailed, Chain, Step, TriageContext
from services.triage.state import IncidentState, PartitionState, duration_ms
from services.triage.statelog import OWNER_KEY, PartitionRestorer, PersistStage, incident_record
from services.triage.topology import TopologyPolicy
from shared.kafka.clients import new_producer
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.decode import decoded
from shared.kafka.positions import caught_up
from shared.kafka.publisher import Publisher, Record, Refusal, limits
from shared.kafka.quarantine import Quarantine
from shared.kafka.state import StateStore
from shared.kafka.topics import prepare_topics
from shared.messages import Alert

log = structlog.get_logger(__name__)


def build_chain(
    settings: TriageSettings,
    incidents_topic: str,
    state_topic: str,
    journal: Journal | None = None,
) -> Chain:
    """The triage policy, in the order it applies (``journal``: see ``journal.py``)."""
    lifecycle = settings.lifecycle
    membership = Membership(settings.max_alerts, lifecycle.quiet_period, journal)
    flapping = settings.flapping
    steps: list[Step] = [
        DedupStep(settings.dedup.ignore_labels, lifecycle.retention, lifecycle.resolve_timeout),
        FlappingStep(membership, flapping.changes, flapping.window, flapping.settle),
        LifecycleStep(membership, lifecycle.reopen_window),
        CauseSymptomPolicy(
            membership, settings.causes.rules, settings.causes.window, settings.group_window
        ),
        TopologyPolicy(
            membership,
            ServiceMap(settings.topology.services),
            settings.topology.label,
            settings.group_window,
        ),
        ScopePolicy(membership, settings.scopes, settings.group_window),
        OpenStep(membership, settings.causes.hold),
    ]
    return Chain(
        [
            CorrelateStage(steps, Timers(membership, flapping.settle, lifecycle.retention)),
            HoldStage(),
            ScoringStage(settings.scoring),
            GrowthHoldStage(settings.growth_hold),
            EmitStage(incidents_topic),
            PersistStage(state_topic),
        ]
    )


class OutputsFirst(Publisher):
    """Publishes incident revisions, and only once they are acknowledged the
    state that records them: a crash in between leaves the state behind the
    output, so the batch is run again instead of a revision being lost (its
    revisions numbered past the ones the crash left unrecorded: see
    ``emit.next_number``). A new owner's mark goes before everything."""

    def __init__(self, producer: AIOKafkaProducer, state_topic: str, **limits: Any):
        super().__init__(producer, **limits)
        self.state_topic = state_topic

    async def publish(
        self, records: Iterable[Record], refused: list[Refusal] | None = None
    ) -> None:
        marks: list[Record] = []
        outputs: list[Record] = []
        state: list[Record] = []
        for record in records:
            if record.topic != self.state_topic:
                outputs.append(record)
            else:
                (marks if record.key == OWNER_KEY else state).append(record)
        for phase in (marks, outputs, state):
            if phase:
                await super().publish(phase, refused)


class AlertReader:
    """The batch's alerts with their keys, decoded one at a time as correlation
    reads them, past the offsets set aside; ``current`` is the record being read."""

    def __init__(
        self,
        partition: int,
        messages: Sequence[ConsumerRecord],
        quarantine: Quarantine,
        skip: set[int],
    ):
        self.partition = partition
        self.messages = [m for m in messages if m.offset not in skip] if skip else messages
        self.quarantine = quarantine
        self.skip = skip
        self.current: ConsumerRecord | None = None

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[tuple[Alert, str]]:
        # What cannot be decoded is quarantined once: a run again skips it.
        records = decoded(
            Alert, self.partition, self.messages, ALERTS_INVALID, self.quarantine, self.skip
        )
        for message, alert in records:
            self.current = message
            yield alert, message.key.decode(errors="replace") if message.key else ""
        self.current = None


class TriageWorker:
    name = "triage"

    def __init__(self, config: TriageConfig):
        self.config = config
        topics = config.kafka.topics
        self.chain = build_chain(config.triage, topics.incidents, topics.triage_state)
        settle, retention = config.triage.flapping.settle, config.triage.lifecycle.retention
        self.state: StateStore[PartitionState] = StateStore(
            config.kafka,
            topics.triage_state,
            lambda: PartitionRestorer(duration_ms(settle), duration_ms(retention)),
        )
        self.partitions = self.state.partitions
        self.producer: AIOKafkaProducer | None = None
        self.loop: ConsumerLoop | None = None
        # Assigned partitions whose owner's mark is not written yet.
        self.unmarked: set[int] = set()
        self.quarantine = Quarantine(self.name, topics.quarantine, config.kafka.max_message_bytes)

    async def start(self) -> None:
        kafka = self.config.kafka
        await prepare_topics(kafka)
        # Load (or build) the severity model before joining the group, so the
        # first alerts do not wait for it.
        for stage in self.chain.stages:
            if isinstance(stage, ScoringStage):
                await stage.load_model()
        self.producer = new_producer(kafka)
        await self.producer.start()
        publisher = OutputsFirst(self.producer, kafka.topics.triage_state, **limits(kafka))
        self.loop = ConsumerLoop(
            kafka,
            self.config.triage.group_id,
            [kafka.topics.alerts],
            self,
            publisher,
            self.quarantine,
        )
        await self.loop.start()

    async def run(self, stop: asyncio.Event) -> None:
        assert self.loop is not None
        await self.loop.run(stop)

    async def close(self) -> None:
        if self.loop is not None:
            await self.loop.stop()
            self.loop = None
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None

    def ready(self) -> bool:
        return self.loop is not None and self.loop.ready

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        owned = {tp.partition for tp in partitions}
        await self.state.restore(owned)
        self.unmarked |= owned

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        owned = {tp.partition for tp in partitions}
        self.state.drop(owned)
        self.unmarked -= owned

    async def handle(self, batch: Batch) -> list[Record]:
        records: list[Record] = []
        for tp, messages in batch.items():
            ctx = await self._handle_partition(tp, messages)
            if tp.partition in self.unmarked:
                self.unmarked.discard(tp.partition)
                mark = OwnerRecord(started_at=datetime.now(UTC))
                records.append(self.state.record(tp.partition, OWNER_KEY, mark))
            records.extend(ctx.records)
        return records

    async def _handle_partition(
        self, tp: TopicPartition, messages: Sequence[ConsumerRecord]
    ) -> TriageContext:
        skip: set[int] = set()
        while True:
            state = self.partitions[tp.partition]  # restored when assigned
            if state.inherited_below is None:
                state.inherited_below = self._high_water(tp, messages)
            reader = AlertReader(tp.partition, messages, self.quarantine, skip)
            ctx = TriageContext(tp.partition, state, reader)
            ctx.redelivered = bool(messages) and messages[0].offset < state.inherited_below
            try:
                await self.chain.process(ctx)
            except AlertFailed as failure:
                culprit = reader.current
                assert culprit is not None
                cause = failure.__cause__ or failure
                self.quarantine.input(ctx.stage, cause, culprit)
                skip.add(culprit.offset)
                # The alerts before it changed state, and it may have half
                # changed it: start over from what the changelog holds.
                await self.on_assigned({tp})
                continue
            self._report(tp, messages, ctx)
            return ctx

    def _high_water(self, tp: TopicPartition, messages: Sequence[ConsumerRecord]) -> int:
        """Where the partition ended when this owner first fetched from it: no
        owner before it can have read past that."""
        consumer = self.loop.consumer if self.loop is not None else None
        known = consumer.highwater(tp) if consumer is not None else None
        return max(known or 0, messages[-1].offset + 1 if messages else 0)

    def _report(
        self, tp: TopicPartition, messages: Sequence[ConsumerRecord], ctx: TriageContext
    ) -> None:
        """Quarantine records for the incidents a stage failed on, one per
        incident and stage, carrying the incident's state."""
        seen: set[tuple[str, str]] = set()
        for stage, error, incident in ctx.failures:
            if (stage, incident.id) in seen:
                continue
            seen.add((stage, incident.id))
            self.quarantine.add(
                stage,
                error,
                topic=tp.topic,
                partition=tp.partition,
                offset=messages[-1].offset if messages else None,
                key=incident.id,
                value=_state_of(incident),
                subject=incident.id,
            )

    async def tick(self) -> list[Record]:
        """Quiet periods, settling and expiry on the wall clock, for partitions
        that have caught up (with a backlog, the alerts' own times drive them,
        which keeps a replay's incidents the same as the live run's)."""
        records: list[Record] = []
        now = datetime.now(UTC)
        for partition, state in list(self.partitions.items()):
            if await self._caught_up(partition):
                ctx = TriageContext(partition, state, now=now)
                await self.chain.process(ctx)
                records.extend(ctx.records)
        FLAPPING_ALERTS.set(sum(s.flapping_alerts for s in self.partitions.values()))
        STATE_ALERTS.set(sum(len(s.alerts) for s in self.partitions.values()))
        STATE_INCIDENTS.set(sum(len(s.incidents) for s in self.partitions.values()))
        return records

    async def _caught_up(self, partition: int) -> bool:
        consumer = self.loop.consumer if self.loop is not None else None
        if consumer is None:
            return False
        tp = TopicPartition(self.config.kafka.topics.alerts, partition)
        return tp in consumer.assignment() and await caught_up(consumer, tp)


def _state_of(incident: IncidentState) -> bytes | None:
    """The incident's state as its changelog record, to see what failed on it."""
    try:
        return incident_record(incident).to_bytes()
    except Exception:
        return None
