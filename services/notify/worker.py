"""The notify worker: consumes ``corral.incidents`` and delivers to receivers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from services.notify.config import NotifyConfig
from services.notify.dedup import DedupStage
from services.notify.integrations import build_integrations
from services.notify.metrics import INCIDENTS_INVALID
from services.notify.receivers.base import Integration
from services.notify.record import RecordStage
from services.notify.retry import RetryStage
from services.notify.routing import RouteNode, receivers_for
from services.notify.stages import Chain, Notification
from shared.kafka.changelog import ChangelogStore
from shared.kafka.clients import new_producer
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.publisher import Publisher, Record
from shared.kafka.topics import ensure_topics
from shared.messages import Incident, SentNotification

log = structlog.get_logger(__name__)


class NotifyWorker:
    name = "notify"

    def __init__(self, config: NotifyConfig):
        self.config = config
        settings = config.notify
        self.routes = RouteNode.build(settings.route)
        self.sent: ChangelogStore[SentNotification] = ChangelogStore(
            config.kafka, config.kafka.topics.notify_sent, SentNotification.from_bytes
        )
        self.chain = Chain(
            [DedupStage(self.sent), RetryStage(settings.retry), RecordStage(self.sent)]
        )
        self.integrations: dict[str, list[Integration]] = {}
        self.session: aiohttp.ClientSession | None = None
        self.producer: AIOKafkaProducer | None = None
        self.loop: ConsumerLoop | None = None

    async def start(self) -> None:
        kafka = self.config.kafka
        if kafka.create_topics:
            await ensure_topics(kafka)
        self.session = aiohttp.ClientSession()
        self.integrations = build_integrations(self.config.notify.receivers, self.session)
        self.producer = new_producer(kafka)
        await self.producer.start()
        self.loop = ConsumerLoop(
            kafka,
            self.config.notify.group_id,
            [kafka.topics.incidents],
            self,
            Publisher(self.producer),
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
        if self.session is not None:
            await self.session.close()
            self.session = None

    def ready(self) -> bool:
        return self.loop is not None and self.loop.ready

    async def tick(self) -> list[Record]:
        return []

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        await self.sent.restore({tp.partition for tp in partitions})

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        self.sent.drop({tp.partition for tp in partitions})

    async def handle(self, batch: Batch) -> list[Record]:
        notifications = []
        for tp, messages in batch.items():
            for incident in self._latest_revisions(tp, messages).values():
                for receiver in receivers_for(self.routes, incident):
                    notifications += [
                        Notification(incident, receiver, integration, tp.partition)
                        for integration in self.integrations.get(receiver, [])
                    ]
        await asyncio.gather(*(self.chain.process(n) for n in notifications))
        return [record for n in notifications for record in n.records]

    @staticmethod
    def _latest_revisions(
        tp: TopicPartition, messages: Sequence[ConsumerRecord]
    ) -> dict[str, Incident]:
        """Only the newest revision of each incident in a batch is worth sending."""
        latest: dict[str, Incident] = {}
        for message in messages:
            try:
                incident = Incident.from_bytes(message.value or b"")
            except ValidationError as exc:
                INCIDENTS_INVALID.inc()
                log.error(
                    "unreadable incident record",
                    partition=tp.partition,
                    offset=message.offset,
                    error=str(exc),
                )
                continue
            current = latest.get(incident.id)
            if current is None or incident.revision > current.revision:
                latest[incident.id] = incident
        return latest
