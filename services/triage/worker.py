"""The triage worker: consumes ``corral.alerts``, runs the chain, publishes incidents."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from services.triage.config import TriageConfig
from services.triage.dedup import DedupStage
from services.triage.emit import EmitStage
from services.triage.grouping import GroupStage
from services.triage.metrics import ALERTS_INVALID
from services.triage.scoring.stage import ScoringStage
from services.triage.stages import Chain, TriageContext
from services.triage.state import PartitionState
from shared.kafka.clients import new_producer
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.publisher import Publisher, Record
from shared.kafka.topics import ensure_topics
from shared.messages import Alert

log = structlog.get_logger(__name__)


class TriageWorker:
    name = "triage"

    def __init__(self, config: TriageConfig):
        self.config = config
        settings = config.triage
        self.chain = Chain(
            [
                DedupStage(),
                GroupStage(settings.group_by, settings.group_window),
                ScoringStage(settings.scoring),
                EmitStage(config.kafka.topics.incidents),
            ]
        )
        self.partitions: dict[int, PartitionState] = {}
        self.producer: AIOKafkaProducer | None = None
        self.publisher: Publisher | None = None
        self.loop: ConsumerLoop | None = None

    async def start(self) -> None:
        kafka = self.config.kafka
        if kafka.create_topics:
            await ensure_topics(kafka)
        self.producer = new_producer(kafka)
        await self.producer.start()
        self.publisher = Publisher(self.producer)
        self.loop = ConsumerLoop(
            kafka, self.config.triage.group_id, [kafka.topics.alerts], self, self.publisher
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

    async def tick(self) -> list[Record]:
        return []

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self.partitions.setdefault(tp.partition, PartitionState())

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self.partitions.pop(tp.partition, None)

    async def handle(self, batch: Batch) -> list[Record]:
        records: list[Record] = []
        for tp, messages in batch.items():
            alerts = []
            for message in messages:
                try:
                    alerts.append(Alert.from_bytes(message.value or b""))
                except ValidationError as exc:
                    # A record no version of triage can read must not block the
                    # partition forever; count it and move on.
                    ALERTS_INVALID.inc()
                    log.error(
                        "unreadable alert record",
                        partition=tp.partition,
                        offset=message.offset,
                        error=str(exc),
                    )
            state = self.partitions.setdefault(tp.partition, PartitionState())
            ctx = TriageContext(tp.partition, state, alerts)
            await self.chain.process(ctx)
            records.extend(ctx.records)
        return records
