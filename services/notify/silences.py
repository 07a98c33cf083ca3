"""Every silence, known to every notify worker, followed live from Kafka.

Silences live on the compacted ``corral.silences`` topic, keyed by id. Each
worker reads the whole topic itself (no consumer group: a silence applies to
incidents on every partition) from the beginning at start, is ready only once
it has caught up, and keeps following it, so a silence created through any
worker's API reaches all of them within a fetch (half a second at most).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import datetime

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from services.notify.routing import routing_labels
from shared.config import KafkaSettings
from shared.kafka.clients import new_consumer
from shared.matchers import Matcher, matches_all
from shared.messages import Incident, Silence, SilenceState

log = structlog.get_logger(__name__)

# Silences change a few times an hour; the incidents consumer's short fetch
# wait would have this follower fetch an idle topic 50 times a second, which
# under load costs the worker (and the broker) several percent of a core.
# Kafka's own default: another worker's silence arrives within half a second.
FOLLOW_FETCH_WAIT_MS = 500


class SilenceStore:
    def __init__(self) -> None:
        self.silences: dict[str, Silence] = {}
        self._matchers: dict[str, list[Matcher]] = {}
        self.version = 0
        """Bumped on every change, so muted notifications can be looked at again."""

    def apply(self, silence_id: str, silence: Silence | None) -> None:
        if silence is None:
            self.silences.pop(silence_id, None)
            self._matchers.pop(silence_id, None)
        else:
            self.silences[silence_id] = silence
            self._matchers[silence_id] = silence.parsed_matchers()
        self.version += 1

    def covers(self, silence: Silence, labels: Mapping[str, str]) -> bool:
        """Whether the silence's matchers select these labels (whatever its times)."""
        return matches_all(self._matchers[silence.id], labels)

    def get(self, silence_id: str) -> Silence | None:
        return self.silences.get(silence_id)

    def all(self) -> list[Silence]:
        return sorted(self.silences.values(), key=lambda s: (s.starts_at, s.id))

    def muting(self, incident: Incident, now: datetime) -> Silence | None:
        """The active silence that mutes this incident (the one ending first), if any.

        A silence mutes an incident when it matches the incident's own labels
        (common labels plus priority, severity, status), or when every firing
        alert of the incident is matched by an active silence, as Alertmanager
        mutes a notification whose alerts are all silenced.
        """
        active = [s for s in self.silences.values() if s.state(now) == SilenceState.ACTIVE]
        if not active:
            return None
        labels = routing_labels(incident)
        matching = [s for s in active if self.covers(s, labels)]
        if matching:
            return min(matching, key=lambda s: s.ends_at)
        firing = incident.firing_alerts
        if not firing:
            return None
        per_alert = []
        for alert in firing:
            covering = [s for s in active if self.covers(s, alert.labels)]
            if not covering:
                return None
            per_alert.append(min(covering, key=lambda s: s.ends_at))
        return min(per_alert, key=lambda s: s.ends_at)


class SilenceFollower:
    """Reads the silences topic into a store, from the beginning, for as long as it runs."""

    def __init__(self, settings: KafkaSettings, store: SilenceStore):
        self.settings = settings
        self.topic = settings.topics.silences
        self.store = store
        self.caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = self._consumer = new_consumer(
            self.settings, group_id=None, fetch_max_wait_ms=FOLLOW_FETCH_WAIT_MS
        )
        await consumer.start()
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            raise RuntimeError(f"topic {self.topic} does not exist")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._follow(consumer, tps))

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self.caught_up.wait(), timeout)

    async def _follow(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        behind = set(tps)
        while True:
            # Short waits while catching up: the worker is not ready before.
            wait_ms = 50 if behind else 500
            batch = await consumer.getmany(timeout_ms=wait_ms, max_records=10_000)
            for records in batch.values():
                for record in records:
                    self._apply(record.key, record.value)
            if behind:
                for tp in list(behind):
                    highwater = consumer.highwater(tp)
                    if highwater is not None and await consumer.position(tp) >= highwater:
                        behind.discard(tp)
                if not behind:
                    log.info("silences loaded", silences=len(self.store.silences))
                    self.caught_up.set()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        silence_id = key.decode() if key else ""
        if value is None:
            self.store.apply(silence_id, None)
            return
        try:
            self.store.apply(silence_id, Silence.from_bytes(value))
        except ValidationError as exc:
            log.error("unreadable silence record", id=silence_id, error=str(exc))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
