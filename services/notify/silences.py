"""Every silence, known to every notify worker, followed live from Kafka.

Silences live on the compacted ``corral.silences`` topic, keyed by id. Each
worker reads the whole topic itself (no consumer group: a silence applies to
incidents on every partition) from the beginning at start, is ready only once
it has caught up, and keeps following it, so a silence created through any
worker's API reaches all of them within a fetch (half a second at most).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import structlog
from pydantic import ValidationError

from services.notify.routing import routing_labels
from shared.config import KafkaSettings
from shared.kafka.state import TableFollower
from shared.matchers import Matcher, matches_all
from shared.messages import Incident, Silence, SilenceState

log = structlog.get_logger(__name__)

# Silences change a few times an hour; the incidents consumer's short fetch
# wait would have this follower fetch an idle topic many times a second, at a
# cost to the worker and the broker under load. Kafka's own default: another
# worker's silence arrives within half a second.
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


class SilenceFollower(TableFollower):
    """Reads the silences topic into a store, from the beginning, for as long as it runs."""

    def __init__(self, settings: KafkaSettings, store: SilenceStore):
        super().__init__(settings, settings.topics.silences, self._apply, FOLLOW_FETCH_WAIT_MS)
        self.store = store

    def _apply(self, silence_id: str, value: bytes | None) -> None:
        if value is None:
            self.store.apply(silence_id, None)
            return
        try:
            self.store.apply(silence_id, Silence.from_bytes(value))
        except ValidationError as exc:
            log.error("unreadable silence record", id=silence_id, error=str(exc))
