"""The incidents worker: the store, the consumer that keeps it, the API and the board on it.

Its consumer group is ``incidents.group_id`` plus the store's id: workers
that share a PostgreSQL store share the partitions between them (and hear
each other's changes through PostgreSQL notifications), while a worker with
a SQLite file of its own reads every partition into it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import structlog
from aiohttp import web
from aiokafka import AIOKafkaProducer, TopicPartition

from services.incidents.actions import ActionGateway
from services.incidents.api import ACCESS, MEDIA_TYPES, IncidentApi, store_guard
from services.incidents.board import pages
from services.incidents.config import IncidentsConfig
from services.incidents.feed import Change, ChangeFeed
from services.incidents.inbound.pagerduty import PagerDutyWebhook
from services.incidents.inbound.slack import SlackInteractivity
from services.incidents.materialize import Materializer
from services.incidents.metrics import INCIDENTS_OPEN
from services.incidents.store import open_store
from services.incidents.store.incidents import NOTIFY_CHANNEL
from services.incidents.times import now_ms
from services.incidents.views import Describer
from shared.kafka.clients import new_producer
from shared.kafka.consumer import Batch, ConsumerLoop
from shared.kafka.publisher import Publisher, Record, limits
from shared.kafka.quarantine import Quarantine
from shared.kafka.topics import prepare_topics
from shared.web.guard import WebSecurity

log = structlog.get_logger(__name__)

PURGE_EVERY_SECONDS = 3600.0
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


class IncidentsWorker:
    name = "incidents"

    def __init__(self, config: IncidentsConfig):
        self.config = config
        settings = config.incidents
        self.store = open_store(
            settings.store,
            settings.data_dir,
            Describer(settings.team_label, tuple(settings.service_labels)),
        )
        self.feed = ChangeFeed()
        self.gateway = ActionGateway(
            self.store, self.feed, config.kafka.topics.actions, settings.action_wait.total_seconds()
        )
        self.api = IncidentApi(settings, self.store, self.gateway)
        self.board = pages.Board(settings, self.store, self.feed)
        self.pagerduty = PagerDutyWebhook(settings.pagerduty, self.gateway)
        self.slack = SlackInteractivity(settings.slack, self.gateway)
        self.quarantine = Quarantine(
            self.name, config.kafka.topics.quarantine, config.kafka.max_message_bytes
        )
        self.materializer = Materializer(
            self.store, self.feed, config.kafka.topics, self.quarantine
        )
        self.producer: AIOKafkaProducer | None = None
        self.loop: ConsumerLoop | None = None
        self.session: aiohttp.ClientSession | None = None
        self._opened = False
        self._last_tick_ms = now_ms()
        self._next_purge = 0.0

    def app(self, security: WebSecurity | None = None) -> web.Application:
        app = (security or WebSecurity()).application(
            {**ACCESS, **pages.ACCESS},
            self.config.incidents.max_body_bytes,
            "incidents.max_body_bytes",
            media_types=MEDIA_TYPES,
        )
        app.middlewares.append(store_guard(lambda: self._opened))
        app.add_routes([*self.api.routes(), self.pagerduty.route(), self.slack.route()])
        self.board.install(app)
        return app

    async def start(self) -> None:
        kafka = self.config.kafka
        await prepare_topics(kafka)
        if not self._opened:
            await self.store.open()
            await self.store.db.listen(NOTIFY_CHANNEL, self._notified)
            self._opened = True
            log.info(
                "incident store open",
                store=self.store.db.description,
                store_id=self.store.store_id,
            )
        self.session = aiohttp.ClientSession()
        self.slack.session = self.session
        self.api.notify.session = self.api.ingest.session = self.session
        self.producer = new_producer(kafka)
        await self.producer.start()
        publisher = Publisher(self.producer, **limits(kafka))
        self.gateway.publisher = publisher
        self.materializer.publisher = publisher
        self.materializer.stopping.clear()
        self.loop = ConsumerLoop(
            kafka,
            f"{self.config.incidents.group_id}-{self.store.store_id}",
            self.materializer.topics,
            self,
            publisher,
            self.quarantine,
        )
        self.materializer.loop = self.loop
        await self.loop.start()

    async def run(self, stop: asyncio.Event) -> None:
        assert self.loop is not None
        await self.loop.run(stop)

    async def close(self) -> None:
        self.gateway.publisher = None
        self.materializer.stopping.set()
        if self.loop is not None:
            await self.loop.stop()
            self.loop = None
        await self.slack.close()
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None
        if self.session is not None:
            self.api.notify.session = self.api.ingest.session = None
            await self.session.close()
            self.session = None
        if self._opened:
            await self.store.close()
            self._opened = False

    def ready(self) -> bool:
        return self.loop is not None and self.loop.ready

    # The consume loop's handler: the materializer, plus time-driven work.

    async def handle(self, batch: Batch) -> list[Record]:
        return await self.materializer.handle(batch)

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        await self.materializer.on_assigned(partitions)

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        await self.materializer.on_revoked(partitions)

    async def tick(self) -> list[Record]:
        """Open-incident gauges, snoozes that ended (to the change feed), retention."""
        now = now_ms()
        counts = await self.store.open_counts(now)
        INCIDENTS_OPEN.clear()
        # Zero where there is nothing open, so a panel shows 0 rather than no data.
        for state in ("firing", "acknowledged"):
            for priority in PRIORITIES:
                INCIDENTS_OPEN.labels(state, priority).set(0)
        for (state, priority), count in counts.items():
            INCIDENTS_OPEN.labels(state, priority).set(count)
        ended = await self.store.snoozes_ended(self._last_tick_ms, now)
        self._last_tick_ms = now
        self.feed.publish([Change(i, frozenset({"snooze_ended"}), "firing") for i in ended])
        retention = self.config.incidents.retention.total_seconds()
        clock = asyncio.get_running_loop().time()
        if retention > 0 and clock >= self._next_purge:
            self._next_purge = clock + PURGE_EVERY_SECONDS
            before = now_ms() - round(retention * 1000)
            purged = await self.store.purge(before)
            if purged:
                log.info(
                    "incidents past retention forgotten",
                    incidents=purged,
                    resolved_before=datetime.fromtimestamp(before / 1000, UTC).isoformat(),
                )
        return []

    def _notified(self, payload: str) -> None:
        change = self.store.notified_change(payload)
        if change is not None:
            self.feed.publish([change])
