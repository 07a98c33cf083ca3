"""The triage worker: consumes ``corral.alerts``, runs the chain, publishes incidents."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from services.triage.causes import CauseSymptomPolicy
from services.triage.config import TriageConfig, TriageSettings
from services.triage.correlate import CorrelateStage, OpenStep
from services.triage.dedup import DedupStep
from services.triage.emit import EmitStage
from services.triage.flapping import FlappingStep
from services.triage.lifecycle import LifecycleStep, Timers
from services.triage.membership import Membership
from services.triage.metrics import (
    ALERTS_INVALID,
    FLAPPING_ALERTS,
    STATE_ALERTS,
    STATE_INCIDENTS,
)
from services.triage.scope import ScopePolicy
from services.triage.scoring.stage import ScoringStage
from services.triage.servicemap import ServiceMap
from services.triage.stages import Chain, TriageContext
from services.triage.state import PartitionState, duration_ms
from services.triage.statelog import PartitionLoader, PersistStage
from services.triage.topology import TopologyPolicy
from shared.kafka.changelog import replay
from shared.kafka.clients import new_producer
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.decode import decoded
from shared.kafka.publisher import Publisher, Record
from shared.kafka.topics import ensure_topics
from shared.messages import Alert

log = structlog.get_logger(__name__)


def build_chain(settings: TriageSettings, incidents_topic: str, state_topic: str) -> Chain:
    """The triage policy, in the order it applies."""
    lifecycle = settings.lifecycle
    membership = Membership(settings.max_alerts, lifecycle.quiet_period)
    flapping = settings.flapping
    steps = [
        DedupStep(settings.dedup.ignore_labels, lifecycle.retention),
        FlappingStep(membership, flapping.changes, flapping.window, flapping.settle),
        LifecycleStep(membership, lifecycle.reopen_window),
        CauseSymptomPolicy(membership, settings.causes.rules, settings.causes.window),
        TopologyPolicy(
            membership,
            ServiceMap(settings.topology.services),
            settings.topology.label,
            settings.group_window,
        ),
        ScopePolicy(membership, settings.scopes, settings.group_window),
        OpenStep(membership),
    ]
    return Chain(
        [
            CorrelateStage(steps, Timers(membership, flapping.settle, lifecycle.retention)),
            ScoringStage(settings.scoring),
            EmitStage(incidents_topic),
            PersistStage(state_topic),
        ]
    )


class OutputsFirst(Publisher):
    """Publishes incident revisions, and only once they are acknowledged the
    state that records them: a crash in between leaves the state behind the
    output, so the redelivered batch emits the same revisions again (notify
    drops the duplicates) instead of a revision being lost."""

    def __init__(self, producer: AIOKafkaProducer, state_topic: str):
        super().__init__(producer)
        self.state_topic = state_topic

    async def publish(self, records: Iterable[Record]) -> None:
        records = list(records)
        await super().publish(r for r in records if r.topic != self.state_topic)
        await super().publish(r for r in records if r.topic == self.state_topic)


def keyed_alerts(partition: int, messages: Sequence[ConsumerRecord]) -> Iterator[tuple[Alert, str]]:
    """The batch's alerts with their keys, decoded one at a time as correlation reads them."""
    for message, alert in decoded(Alert, partition, messages, ALERTS_INVALID):
        yield alert, message.key.decode(errors="replace") if message.key else ""


class TriageWorker:
    name = "triage"

    def __init__(self, config: TriageConfig):
        self.config = config
        topics = config.kafka.topics
        self.chain = build_chain(config.triage, topics.incidents, topics.triage_state)
        self.partitions: dict[int, PartitionState] = {}
        self.producer: AIOKafkaProducer | None = None
        self.loop: ConsumerLoop | None = None

    async def start(self) -> None:
        kafka = self.config.kafka
        if kafka.create_topics:
            await ensure_topics(kafka)
        # Load (or build) the severity model before joining the group, so the
        # first alerts do not wait for it.
        for stage in self.chain.stages:
            if isinstance(stage, ScoringStage):
                await stage.load_model()
        self.producer = new_producer(kafka)
        await self.producer.start()
        publisher = OutputsFirst(self.producer, kafka.topics.triage_state)
        self.loop = ConsumerLoop(
            kafka, self.config.triage.group_id, [kafka.topics.alerts], self, publisher
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
        settings = self.config.triage
        loaders = {
            tp.partition: PartitionLoader(
                duration_ms(settings.flapping.settle), duration_ms(settings.lifecycle.retention)
            )
            for tp in partitions
        }
        await replay(
            self.config.kafka,
            self.config.kafka.topics.triage_state,
            set(loaders),
            lambda partition, key, value: loaders[partition].apply(key, value),
        )
        for partition, loader in loaders.items():
            self.partitions[partition] = loader.build()

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self.partitions.pop(tp.partition, None)

    async def handle(self, batch: Batch) -> list[Record]:
        records: list[Record] = []
        for tp, messages in batch.items():
            state = self.partitions.setdefault(tp.partition, PartitionState())
            ctx = TriageContext(tp.partition, state, keyed_alerts(tp.partition, messages))
            await self.chain.process(ctx)
            records.extend(ctx.records)
        return records

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
        if tp not in consumer.assignment():
            return False
        highwater = consumer.highwater(tp)
        return highwater is not None and await consumer.position(tp) >= highwater
