"""The incidents firing now, as every notify worker knows them.

Alertmanager's API shows every alert, whichever instance is asked; a notify
worker delivers only its own partitions. So each worker follows the whole
incidents topic (no consumer group, like the silences) and keeps the newest
revision of every incident still firing: the Alertmanager API's alerts and
groups are read from here. A resolved or merged incident is forgotten, so
memory is bounded by what fires.
"""

from __future__ import annotations

from collections import OrderedDict

import structlog
from pydantic import ValidationError

from services.notify.silences import FOLLOW_FETCH_WAIT_MS
from shared.config import KafkaSettings
from shared.kafka.state import TableFollower
from shared.messages import Incident, IncidentStatus

log = structlog.get_logger(__name__)


RESOLVED_REMEMBERED = 100_000
"""Resolved incidents whose last revision is remembered, so that an older
revision put back on the topic (``corral dlq replay``) does not show them firing."""


class CurrentIncidents:
    def __init__(self) -> None:
        self.firing: dict[str, Incident] = {}
        self._resolved: OrderedDict[str, int] = OrderedDict()

    def apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.firing.pop(key, None)
            return
        try:
            incident = Incident.from_bytes(value)
        except ValidationError as exc:
            log.warning("unreadable incident record; left out of the API", key=key, error=str(exc))
            return
        self.put(incident)

    def put(self, incident: Incident) -> None:
        """Keep the newest revision; a redelivered older one changes nothing."""
        known = self.firing.get(incident.id)
        newest = known.revision if known is not None else self._resolved.get(incident.id, 0)
        if incident.revision < newest:
            return
        if incident.status == IncidentStatus.RESOLVED or incident.merged_into is not None:
            self.firing.pop(incident.id, None)
            self._resolved[incident.id] = incident.revision
            self._resolved.move_to_end(incident.id)
            if len(self._resolved) > RESOLVED_REMEMBERED:
                self._resolved.popitem(last=False)
            return
        self._resolved.pop(incident.id, None)
        self.firing[incident.id] = incident

    def incidents(self) -> list[Incident]:
        return sorted(self.firing.values(), key=lambda i: (i.opened_at, i.id))


def incident_follower(settings: KafkaSettings, current: CurrentIncidents) -> TableFollower:
    """Reads the whole incidents topic into ``current`` and follows it."""
    return TableFollower(settings, settings.topics.incidents, current.apply, FOLLOW_FETCH_WAIT_MS)
