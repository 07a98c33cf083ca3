"""The notify worker: consumes ``corral.incidents`` and delivers to receivers.

For each batch, the newest revision of each incident is routed and admitted
into the sent log of every receiver integration that should hear of it (the
routed ones, plus those that already got the incident, so they hear every
later change and the resolve); the sent log records are acknowledged before
the offsets are committed. Deliveries then run on their own (``dispatch``)
through the chain mute, dedup, intent, retry, record.

A revision that cannot be admitted (it cannot be read, routing it raises, or
the broker refuses its sent log records) is quarantined and its sent log
entries left as they were; the other incidents of the batch go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import aiohttp
import structlog
from aiohttp import web
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from services.notify import alertmanager_api
from services.notify.alertmanager_api import AlertmanagerApi
from services.notify.alertmanager_config import alertmanager_yaml
from services.notify.api import ACCESS, SilenceApi
from services.notify.config import NotifyConfig
from services.notify.current import CurrentIncidents, IncidentFollower
from services.notify.dedup import DedupStage
from services.notify.dispatch import Dispatcher
from services.notify.integrations import build_integrations
from services.notify.intent import IntentStage
from services.notify.limits import Limiter
from services.notify.metrics import INCIDENTS_INVALID, NOTIFICATIONS, SENT_LOG_ENTRIES
from services.notify.mute import MuteStage
from services.notify.outbox import admit
from services.notify.receivers.base import Integration
from services.notify.record import RecordStage
from services.notify.retry import RetryStage
from services.notify.routing import RouteNode, held_by, routes_for, routing_labels
from services.notify.sentlog import SentLog, entry_key
from services.notify.silences import SilenceFollower, SilenceStore
from services.notify.stages import Chain, Notification
from services.notify.templates import Templates
from shared.kafka.clients import new_producer
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.decode import decoded
from shared.kafka.publisher import Publisher, PublishError, Record, limits
from shared.kafka.quarantine import Quarantine
from shared.kafka.topics import prepare_topics
from shared.messages import Incident, SentNotification
from shared.messages.notification import remember_encoding
from shared.timeintervals import TimeIntervals
from shared.web.guard import WebSecurity
from shared.web.openapi import document, openapi_route

log = structlog.get_logger(__name__)


class NotifyWorker:
    name = "notify"

    def __init__(self, config: NotifyConfig):
        self.config = config
        settings = config.notify
        self.routes = RouteNode.build(settings.route)
        self.intervals = TimeIntervals(settings.time_intervals)
        self.templates = Templates(settings.templates)
        self.sent = SentLog(config.kafka, config.kafka.topics.notify_sent)
        self.silences = SilenceStore()
        self.api = SilenceApi(self.silences, config.kafka.topics.silences, settings.silences)
        self.current = CurrentIncidents()
        self.incidents_follower: IncidentFollower | None = None
        self.alertmanager = AlertmanagerApi(
            self.api,
            self.silences,
            self.current,
            self.routes,
            [r.name for r in settings.receivers],
            alertmanager_yaml(settings),
            lambda route, now: held_by(route, self.intervals, now),
        )
        self.alertmanager.loaded = self._incidents_loaded
        self.limiters = {r.name: Limiter(r.limits) for r in settings.receivers}
        self.integrations: dict[str, list[Integration]] = {}
        self.dispatcher: Dispatcher | None = None
        self.session: aiohttp.ClientSession | None = None
        self.producer: AIOKafkaProducer | None = None
        self.follower: SilenceFollower | None = None
        self.loop: ConsumerLoop | None = None
        self.quarantine = Quarantine(
            self.name, config.kafka.topics.quarantine, config.kafka.max_message_bytes
        )
        self._silences_seen = -1

    def app(self, security: WebSecurity | None = None) -> web.Application:
        limits = self.config.notify.silences
        app = (security or WebSecurity()).application(
            {**ACCESS, **alertmanager_api.ACCESS},
            limits.max_body_bytes,
            "notify.silences.max_body_bytes",
        )
        operations = self.api.operations() + self.alertmanager.operations()
        app.add_routes(
            [
                *self.api.routes(),
                *self.alertmanager.routes(),
                openapi_route(document("Corral notify", operations)),
            ]
        )
        return app

    def _incidents_loaded(self) -> bool:
        follower = self.incidents_follower
        return follower is not None and follower.caught_up.is_set()

    async def start(self) -> None:
        kafka = self.config.kafka
        await prepare_topics(kafka)
        self.session = aiohttp.ClientSession()
        self.integrations = build_integrations(
            self.config.notify.receivers, self.session, self.templates
        )
        self.producer = new_producer(kafka)
        await self.producer.start()
        publisher = Publisher(self.producer, **limits(kafka))
        self.sent.publisher = publisher
        self.sent.stopping.clear()
        self.dispatcher = Dispatcher(
            self.sent,
            Chain(
                [
                    MuteStage(self.silences, self.intervals),
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
        # The Alertmanager API's view of what fires; deliveries do not wait for it.
        self.incidents_follower = IncidentFollower(kafka, self.current)
        await self.incidents_follower.start()
        self.api.publisher = publisher
        self.loop = ConsumerLoop(
            kafka,
            self.config.notify.group_id,
            [kafka.topics.incidents],
            self,
            publisher,
            self.quarantine,
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
        if self.incidents_follower is not None:
            await self.incidents_follower.stop()
            self.incidents_follower = None
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
        SENT_LOG_ENTRIES.set(sum(len(self.sent.store.partition(p)) for p in self.sent.partitions()))
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
        admitted: dict[int, list[Admitted]] = {}
        for tp, messages in batch.items():
            for message, incident in self._latest_revisions(tp, messages).values():
                try:
                    entries = self._admissions(tp.partition, incident, now)
                except Exception as exc:
                    self.quarantine.input("admit", exc, message)
                    continue
                before = {e.key: self.sent.get(tp.partition, e.key) for e in entries}
                keys = [self.sent.put(tp.partition, e.entry) for e in entries]
                admitted.setdefault(tp.partition, []).append(Admitted(message, keys, before))
        await asyncio.gather(*(self._save(p, done) for p, done in admitted.items()))
        for partition, done in admitted.items():
            for admission in done:
                for key in admission.keys:
                    entry = self.sent.get(partition, key)
                    if entry is not None and entry.due_at is not None:
                        self.dispatcher.schedule(partition, key, entry.due_at)
        self.dispatcher.start_due(now)
        return []

    async def _save(self, partition: int, admitted: list[Admitted]) -> None:
        """Make the partition's admissions durable. If the broker refuses a
        record, save incident by incident: the refused ones are quarantined
        and their entries put back as they were."""
        try:
            await self.sent.save(partition, [k for a in admitted for k in a.keys])
            return
        except PublishError as exc:
            if not exc.refused:
                raise
        for admission in list(admitted):
            try:
                await self.sent.save(partition, admission.keys)
            except PublishError as exc:
                if not exc.refused:
                    raise
                for key, entry in admission.before.items():
                    self.sent.store.put(partition, key, entry)
                self.quarantine.input("publish", exc, admission.message)
                admitted.remove(admission)

    def _admissions(self, partition: int, incident: Incident, now: datetime) -> list[Admission]:
        """The sent log entries a revision changes, one per integration that
        should hear of it; nothing is changed yet."""
        targets = {
            node.receiver: node for node in routes_for(self.routes, routing_labels(incident))
        }
        # Receivers that got the incident hear every later change, even when
        # its labels (common to fewer alerts now) no longer route to them.
        for entry in self.sent.entries_for(partition, incident.id):
            if entry.revision or entry.attempting:
                targets.setdefault(entry.receiver, self.routes)
        admissions = []
        for receiver, route in targets.items():
            for integration in self.integrations.get(receiver, []):
                key = entry_key(incident.id, receiver, integration.name)
                entry = admit(
                    self.sent.get(partition, key), incident, receiver, integration.name, route, now
                )
                if entry is None:
                    NOTIFICATIONS.labels(receiver, integration.name, "skipped_duplicate").inc()
                    continue
                admissions.append(Admission(key, entry))
        return admissions

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

    def _latest_revisions(
        self, tp: TopicPartition, messages: Sequence[ConsumerRecord]
    ) -> dict[str, tuple[ConsumerRecord, Incident]]:
        """Only the newest revision of each incident in a batch is worth sending."""
        latest: dict[str, tuple[ConsumerRecord, Incident]] = {}
        for message, incident in decoded(
            Incident, tp.partition, messages, INCIDENTS_INVALID, self.quarantine
        ):
            current = latest.get(incident.id)
            if current is None or incident.revision > current[1].revision:
                latest[incident.id] = (message, incident)
                remember_encoding(incident, message.value or b"")
        return latest


class Admission(NamedTuple):
    key: str
    entry: SentNotification


class Admitted(NamedTuple):
    """A revision admitted in memory: its record, the keys it changed, and
    the entries they had before (None: new), should its save be refused."""

    message: ConsumerRecord
    keys: list[str]
    before: dict[str, SentNotification | None]
