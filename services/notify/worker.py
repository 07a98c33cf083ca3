"""The notify worker: consumes ``corral.incidents`` and ``corral.actions``, delivers to receivers.

For each batch, the newest revision of each incident is routed and admitted
into the sent log of every receiver integration that should hear of it
(``Targets``), then people's actions (acknowledge, resolve, escalate…) are
applied to the entries of their incident; the sent log records (and the
outcomes of escalation steps an action cancelled) are acknowledged before
the offsets are committed. The two topics are consumed co-partitioned:
partition N of both comes to the worker that holds partition N of the sent
log. Deliveries then run on their own (``Dispatcher``) through the pipeline
mute, skip, intent, send; the dispatcher publishes each outcome to
``corral.notify.outcomes`` and records it in the sent log.

A revision or action that cannot be applied (it cannot be read, routing it
raises, or the broker refuses its sent log records) is quarantined and its
sent log entries left as they were; the rest of the batch goes on.
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
from services.notify.admission import admissions, responses
from services.notify.alertmanager_api import AlertmanagerApi
from services.notify.alertmanager_config import alertmanager_yaml
from services.notify.api import ACCESS, SilenceApi
from services.notify.config import NotifyConfig
from services.notify.current import CurrentIncidents, incident_follower
from services.notify.dispatch import Dispatcher
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.escalation import policies
from services.notify.integrations import build_integrations
from services.notify.intent import IntentStage
from services.notify.limits import Limiter
from services.notify.metrics import (
    ACTIONS_INVALID,
    INCIDENTS_INVALID,
    SENT_LOG_ENTRIES,
    TEMPLATE_FAILURES,
)
from services.notify.mute import MuteStage
from services.notify.outcomes import record
from services.notify.pipeline import DeliveryPipeline
from services.notify.routing import RouteNode, held_by
from services.notify.send import SendStage
from services.notify.sentlog import KafkaSentLog
from services.notify.silences import SilenceFollower, SilenceStore
from services.notify.skip import SkipStage
from services.notify.targets import Targets
from services.notify.templates import Templates
from shared.cache import BoundedCache
from shared.codec import Listings, read_incident
from shared.kafka.acked import publish_until_acked
from shared.kafka.clients import new_producer
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.decode import decoded
from shared.kafka.publisher import Publisher, PublishError, Record, limits
from shared.kafka.quarantine import Quarantine
from shared.kafka.state import TableFollower
from shared.kafka.topics import prepare_topics
from shared.messages import Action, DeadLetter, DeliveryOutcome, Incident
from shared.timeintervals import TimeIntervals
from shared.web.guard import WebSecurity
from shared.web.openapi import document, openapi_route

log = structlog.get_logger(__name__)

# Incidents whose last listing is kept to read their next revision from:
# about the incidents a storm updates at once.
LISTINGS_KEPT = 512


class NotifyWorker:
    name = "notify"

    def __init__(self, config: NotifyConfig):
        self.config = config
        settings = config.notify
        self.routes = RouteNode.build(
            settings.route, policies=policies(settings.escalation_policies)
        )
        self.intervals = TimeIntervals(settings.time_intervals)
        self.templates = Templates(
            settings.templates,
            lambda receiver, field: TEMPLATE_FAILURES.labels(receiver, field).inc(),
        )
        self.sent = KafkaSentLog(config.kafka, config.kafka.topics.notify_sent)
        self.silences = SilenceStore()
        self.api = SilenceApi(self.silences, config.kafka.topics.silences, settings.silences)
        self.listings: Listings = BoundedCache(LISTINGS_KEPT)
        self.current = CurrentIncidents(self.read_incident)
        self.incidents_follower: TableFollower | None = None
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
        self.targets: Targets | None = None
        self.dispatcher: Dispatcher | None = None
        self.session: aiohttp.ClientSession | None = None
        self.producer: AIOKafkaProducer | None = None
        self.publisher: Publisher | None = None
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

    def read_incident(self, data: bytes) -> Incident:
        """Members its last revision listed are not validated again (``codec.read_incident``)."""
        return read_incident(data, self.listings)

    def _incidents_loaded(self) -> bool:
        follower = self.incidents_follower
        return follower is not None and follower.caught_up.is_set()

    async def start(self) -> None:
        kafka = self.config.kafka
        await prepare_topics(kafka)
        self.session = aiohttp.ClientSession()
        self.producer = new_producer(kafka)
        await self.producer.start()
        publisher = Publisher(self.producer, **limits(kafka))
        self.assemble(self.session, publisher)
        # Every silence must be known before the first incident is looked at.
        self.follower = SilenceFollower(kafka, self.silences)
        await self.follower.start()
        await self.follower.wait_caught_up()
        # The Alertmanager API's view of what fires; deliveries do not wait for it.
        self.incidents_follower = incident_follower(kafka, self.current)
        await self.incidents_follower.start()
        self.api.publisher = publisher
        self.loop = ConsumerLoop(
            kafka,
            self.config.notify.group_id,
            [kafka.topics.incidents, kafka.topics.actions],
            self,
            publisher,
            self.quarantine,
            co_partitioned=True,
        )
        await self.loop.start()

    def assemble(self, session: aiohttp.ClientSession, publisher: Publisher) -> None:
        """The delivery side, writing through ``publisher``: receiver
        integrations, the sent log's writes, the pipeline and the dispatcher
        (``bench.perf.notify_chain`` runs them on a publisher without a broker)."""
        integrations = build_integrations(self.config.notify.receivers, session, self.templates)
        self.targets = Targets(
            self.routes, integrations, self.limiters, self.config.notify.paging_priorities
        )
        self.publisher = publisher
        self.sent.publisher = publisher
        self.sent.stopping.clear()
        pipeline = DeliveryPipeline(
            [MuteStage(self.silences, self.intervals), SkipStage()],
            [IntentStage(self.sent), SendStage(self.config.notify.retry)],
        )
        self.dispatcher = Dispatcher(
            self.sent,
            pipeline,
            self.targets,
            self.silences,
            self.dead_letter,
            self.config.notify.retention,
            self.delivered,
        )

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

    async def dead_letter(self, letter: DeadLetter) -> None:
        """Written and acknowledged before the sent log forgets the attempt."""
        assert self.publisher is not None
        record = Record(self.config.kafka.topics.dead_letters, letter.incident.id, letter)
        await publish_until_acked(self.publisher, lambda: [record], self.sent.stopping)

    async def delivered(self, outcome: DeliveryOutcome) -> None:
        """How a delivery ended, for the incidents service; acknowledged before
        the sent log records it."""
        assert self.publisher is not None
        outcomes = self.config.kafka.topics.notify_outcomes
        await publish_until_acked(
            self.publisher, lambda: [record(outcomes, outcome)], self.sent.stopping
        )

    async def tick(self) -> list[Record]:
        assert self.dispatcher is not None
        now = datetime.now(UTC)
        if self.silences.version != self._silences_seen:
            self._silences_seen = self.silences.version
            self.dispatcher.silences_changed(now)
        self.dispatcher.start_due(now)
        await self.dispatcher.expire(now)
        SENT_LOG_ENTRIES.set(len(self.sent))
        return []

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        assert self.dispatcher is not None
        numbers = {tp.partition for tp in partitions}
        await self.sent.restore(numbers)
        await self.dispatcher.restored(numbers)
        self._silences_seen = -1  # so the next tick looks at them with today's silences
        self.dispatcher.start_due(datetime.now(UTC))

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        assert self.dispatcher is not None
        numbers = {tp.partition for tp in partitions}
        await self.dispatcher.stop(numbers)
        self.sent.drop(numbers)

    async def handle(self, batch: Batch) -> list[Record]:
        assert self.dispatcher is not None and self.targets is not None
        now = datetime.now(UTC)
        topics = self.config.kafka.topics
        admitted: dict[int, list[Admitted]] = {}
        # Revisions first: an action taken on an incident applies to what it became.
        for tp, messages in sorted(batch.items(), key=lambda item: item[0].topic == topics.actions):
            if tp.topic == topics.actions:
                applied = self._actions(tp, messages, now)
            else:
                applied = self._revisions(tp, messages, now)
            admitted.setdefault(tp.partition, []).extend(applied)
        # The escalation steps that actions stopped are told before the sent log
        # records the stop: a crash in between tells them again when the action
        # is read again (the incidents service absorbs that); told after, a
        # crash would lose them, as a replayed action changes nothing.
        stopped = [r for done in admitted.values() for saved in done for r in saved.outcomes]
        if stopped:
            assert self.publisher is not None
            await publish_until_acked(self.publisher, lambda: stopped, self.sent.stopping)
        # What is due at once goes out right after this save, which records
        # its intent with the admission: one record per entry, one round trip.
        changed = {key: None for done in admitted.values() for saved in done for key in saved.keys}
        starting = await self.dispatcher.intending(changed, now)
        await asyncio.gather(*(self._save(done) for done in admitted.values()))
        for done in admitted.values():
            for saved in done:
                self.dispatcher.admitted(saved.keys)
        self.dispatcher.start(starting)
        self.dispatcher.start_due(now)
        return []

    def _revisions(
        self, tp: TopicPartition, messages: Sequence[ConsumerRecord], now: datetime
    ) -> list[Admitted]:
        assert self.targets is not None
        applied = []
        for message, incident in self._latest_revisions(tp, messages).values():
            try:
                changes = admissions(self.sent, self.targets, tp.partition, incident, now)
            except Exception as exc:
                self.quarantine.input("admit", exc, message)
                continue
            if changes:
                # Its record in the sent log is the bytes it came as.
                self.sent.hold(tp.partition, incident, message.value or b"")
            applied.append(self._apply(message, changes, []))
        return applied

    def _actions(
        self, tp: TopicPartition, messages: Sequence[ConsumerRecord], now: datetime
    ) -> list[Admitted]:
        assert self.targets is not None
        applied = []
        outcomes = self.config.kafka.topics.notify_outcomes
        for message, action in decoded(
            Action, tp.partition, messages, ACTIONS_INVALID, self.quarantine
        ):
            try:
                changes, cancelled = responses(self.sent, self.targets, tp.partition, action, now)
            except Exception as exc:
                self.quarantine.input("respond", exc, message)
                continue
            applied.append(self._apply(message, changes, [record(outcomes, c) for c in cancelled]))
        return applied

    def _apply(
        self,
        message: ConsumerRecord,
        changes: list[tuple[EntryKey, SentLogEntry]],
        outcomes: list[Record],
    ) -> Admitted:
        """Put the changes in the sent log (in memory), remembering what they replaced."""
        before = {key: self.sent.get(key) for key, _ in changes}
        for key, entry in changes:
            self.sent.put(key, entry)
        return Admitted(message, [key for key, _ in changes], before, outcomes)

    async def _save(self, admitted: list[Admitted]) -> None:
        """Make one partition's admissions durable. If the broker refuses a
        record, save incident by incident: the refused ones are quarantined
        and their entries put back as they were."""
        try:
            await self.sent.save([key for admission in admitted for key in admission.keys])
            return
        except PublishError as exc:
            if not exc.refused:
                raise
        for admission in list(admitted):
            try:
                await self.sent.save(admission.keys)
            except PublishError as exc:
                if not exc.refused:
                    raise
                for key, entry in admission.before.items():
                    if entry is None:
                        self.sent.delete(key)
                    else:
                        self.sent.put(key, entry)
                self.quarantine.input("publish", exc, admission.message)
                admitted.remove(admission)

    def _latest_revisions(
        self, tp: TopicPartition, messages: Sequence[ConsumerRecord]
    ) -> dict[str, tuple[ConsumerRecord, Incident]]:
        """Only the newest revision of each incident in a batch is worth sending."""
        latest: dict[str, tuple[ConsumerRecord, Incident]] = {}
        for message, incident in decoded(
            Incident,
            tp.partition,
            messages,
            INCIDENTS_INVALID,
            self.quarantine,
            decode=self.read_incident,
        ):
            current = latest.get(incident.id)
            if current is None or incident.revision > current[1].revision:
                latest[incident.id] = (message, incident)
        return latest


class Admitted(NamedTuple):
    """A revision or action applied in memory: its record, the entries it
    changed, what they were before (None: new), should its save be refused,
    and the outcomes it makes (escalation steps it cancelled)."""

    message: ConsumerRecord
    keys: list[EntryKey]
    before: dict[EntryKey, SentLogEntry | None]
    outcomes: list[Record]
