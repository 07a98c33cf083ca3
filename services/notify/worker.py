"""The notify worker: consumes ``corral.incidents`` and delivers to receivers.

For each batch, the newest revision of each incident is routed and admitted
into the sent log of every receiver integration that should hear of it (the
routed ones, plus those that already got the incident, so they hear every
later change and the resolve); the sent log records are acknowledged before
the offsets are committed. Deliveries then run on their own (``dispatch``)
through the chain mute, dedup, intent, retry, record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import aiohttp
import structlog
from aiohttp import web
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from services.notify.api import SilenceApi
from services.notify.config import NotifyConfig
from services.notify.dedup import DedupStage
from services.notify.dispatch import Dispatcher
from services.notify.integrations import build_integrations
from services.notify.intent import IntentStage
from services.notify.limits import Limiter
from services.notify.metrics import INCIDENTS_INVALID, NOTIFICATIONS
from services.notify.mute import MuteStage
from services.notify.outbox import admit
from services.notify.receivers.base import Integration
from services.notify.record import RecordStage
from services.notify.retry import RetryStage
from services.notify.routing import RouteNode, routes_for, routing_labels
from services.notify.sentlog import SentLog, entry_key
from services.notify.silences import SilenceFollower, SilenceStore
from services.notify.stages import Chain, Notification
from services.notify.templates import Templates
from shared.kafka.clients import new_producer
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.decode import decoded
from shared.kafka.publisher import Publisher, Record
from shared.kafka.topics import ensure_topics
from shared.messages import Incident
from shared.messages.notification import remember_encoding
from shared.web.guard import WebSecurity

log = structlog.get_logger(__name__)


class NotifyWorker:
    name = "notify"

    def __init__(self, config: NotifyConfig):
        self.config = config
        settings = config.notify
        self.routes = RouteNode.build(settings.route)
        self.templates = Templates(settings.templates)
        self.sent = SentLog(config.kafka, config.kafka.topics.notify_sent)
        self.silences = SilenceStore()
        self.api = SilenceApi(self.silences, config.kafka.topics.silences, settings.silences)
        self.limiters = {r.name: Limiter(r.limits) for r in settings.receivers}
        self.integrations: dict[str, list[Integration]] = {}
        self.dispatcher: Dispatcher | None = None
        self.session: aiohttp.ClientSession | None = None
        self.producer: AIOKafkaProducer | None = None
        self.follower: SilenceFollower | None = None
        self.loop: ConsumerLoop | None = None
        self._silences_seen = -1

    def app(self, security: WebSecurity | None = None) -> web.Application:
        return self.api.application(security or WebSecurity())

    async def start(self) -> None:
        kafka = self.config.kafka
        if kafka.create_topics:
            await ensure_topics(kafka)
        self.session = aiohttp.ClientSession()
        self.integrations = build_integrations(
            self.config.notify.receivers, self.session, self.templates
        )
        self.producer = new_producer(kafka)
        await self.producer.start()
        publisher = Publisher(self.producer)
        self.sent.publisher = publisher
        self.sent.stopping.clear()
        self.dispatcher = Dispatcher(
            self.sent,
            Chain(
                [
                    MuteStage(self.silences),
                    DedupStage(),
                    IntentStage(self.sent),
                    RetryStage(self.config.notify.retry),
                    RecordStage(publisher, kafka.topics.dead_letters, self.sent.stopping),
                ]
            ),
            self.notification,
        )
        # Every silence must be known before the first incident is looked at.
        self.follower = SilenceFollower(kafka, self.silences)
        await self.follower.start()
        await self.follower.wait_caught_up()
        self.api.publisher = publisher
        self.loop = ConsumerLoop(
            kafka, self.config.notify.group_id, [kafka.topics.incidents], self, publisher
        )
        await self.loop.start()

    async def run(self, stop: asyncio.Event) -> None:
        assert self.loop is not None
        await self.loop.run(stop)

    async def close(self) -> None:
        self.api.publisher = None
        if self.dispatcher is not None:
            await self.dispatcher.stop(grace=self.config.notify.shutdown_grace.total_seconds())
        self.sent.stopping.set()
        if self.loop is not None:
            await self.loop.stop()
            self.loop = None
        if self.follower is not None:
            await self.follower.stop()
            self.follower = None
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    def ready(self) -> bool:
        return self.loop is not None and self.loop.ready

    async def tick(self) -> list[Record]:
        assert self.dispatcher is not None
        now = datetime.now(UTC)
        if self.silences.version != self._silences_seen:
            self._silences_seen = self.silences.version
            self.dispatcher.wake_muted(now)
            self._acknowledge_silenced(now)
        self.dispatcher.start_due(now)
        return []

    def _acknowledge_silenced(self, now: datetime) -> None:
        """Paged incidents a silence now covers are due: their receivers that
        have acknowledgements get one (the mute stage decides)."""
        assert self.dispatcher is not None
        for partition in list(self.sent.partitions()):
            for key, entry in self.sent.entries(partition):
                if (
                    entry.status == "firing"
                    and entry.incident is not None
                    and (partition, key) not in self.dispatcher.tasks
                    and self._acknowledges(entry.receiver, entry.integration)
                    and self.silences.muting(entry.incident, now) is not None
                ):
                    self.sent.put(partition, entry.model_copy(update={"due_at": now}))
                    self.dispatcher.schedule(partition, key, now)

    def _integration(self, receiver: str, name: str) -> Integration | None:
        return next((i for i in self.integrations.get(receiver, []) if i.name == name), None)

    def _acknowledges(self, receiver: str, name: str) -> bool:
        integration = self._integration(receiver, name)
        return integration is not None and integration.acknowledges

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        assert self.dispatcher is not None
        numbers = {tp.partition for tp in partitions}
        await self.sent.restore(numbers)
        for partition in numbers:
            for key, entry in self.sent.entries(partition):
                if entry.attempting:
                    log.warning(
                        "resuming a delivery a stopped worker left unfinished",
                        key=key,
                        revision=entry.attempting,
                    )
                if entry.due_at is not None:
                    self.dispatcher.schedule(partition, key, entry.due_at)
                if entry.silenced_by:
                    self.dispatcher.muted.add((partition, key))
        self._silences_seen = -1  # so the next tick looks at them with today's silences
        self.dispatcher.start_due(datetime.now(UTC))

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        assert self.dispatcher is not None
        numbers = {tp.partition for tp in partitions}
        await self.dispatcher.stop(numbers)
        self.sent.drop(numbers)

    async def handle(self, batch: Batch) -> list[Record]:
        assert self.dispatcher is not None
        now = datetime.now(UTC)
        admitted: dict[int, list[str]] = {}
        for tp, messages in batch.items():
            for incident in self._latest_revisions(tp, messages).values():
                admitted.setdefault(tp.partition, []).extend(
                    self._admit(tp.partition, incident, now)
                )
        await asyncio.gather(*(self.sent.save(p, keys) for p, keys in admitted.items()))
        for partition, keys in admitted.items():
            for key in keys:
                entry = self.sent.get(partition, key)
                if entry is not None and entry.due_at is not None:
                    self.dispatcher.schedule(partition, key, entry.due_at)
        self.dispatcher.start_due(now)
        return []

    def _admit(self, partition: int, incident: Incident, now: datetime) -> list[str]:
        """Admit a revision for every integration that should hear of it."""
        targets = {
            node.receiver: node for node in routes_for(self.routes, routing_labels(incident))
        }
        # Receivers that got the incident hear every later change, even when
        # its labels (common to fewer alerts now) no longer route to them.
        for entry in self.sent.entries_for(partition, incident.id):
            if entry.revision or entry.attempting:
                targets.setdefault(entry.receiver, self.routes)
        keys = []
        for receiver, route in targets.items():
            for integration in self.integrations.get(receiver, []):
                key = entry_key(incident.id, receiver, integration.name)
                entry = admit(
                    self.sent.get(partition, key), incident, receiver, integration.name, route, now
                )
                if entry is None:
                    NOTIFICATIONS.labels(receiver, integration.name, "skipped_duplicate").inc()
                    continue
                keys.append(self.sent.put(partition, entry))
        return keys

    def notification(self, partition: int, key: str) -> Notification | None:
        """The delivery a due sent log entry stands for, with today's config."""
        entry = self.sent.get(partition, key)
        if entry is None or entry.incident is None:
            return None
        integration = self._integration(entry.receiver, entry.integration)
        if integration is None:
            log.warning("receiver integration no longer configured; dropping", key=key)
            return None
        routes = routes_for(self.routes, routing_labels(entry.incident))
        route = next((r for r in routes if r.receiver == entry.receiver), self.routes)
        return Notification(
            partition=partition,
            entry=entry,
            incident=entry.incident,
            integration=integration,
            limiter=self.limiters[entry.receiver],
            route=route,
        )

    @staticmethod
    def _latest_revisions(
        tp: TopicPartition, messages: Sequence[ConsumerRecord]
    ) -> dict[str, Incident]:
        """Only the newest revision of each incident in a batch is worth sending."""
        latest: dict[str, Incident] = {}
        for message, incident in decoded(Incident, tp.partition, messages, INCIDENTS_INVALID):
            current = latest.get(incident.id)
            if current is None or incident.revision > current.revision:
                latest[incident.id] = incident
                remember_encoding(incident, message.value or b"")
        return latest
