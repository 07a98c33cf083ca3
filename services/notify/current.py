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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from pydantic import ValidationError

from services.notify.silences import FOLLOW_FETCH_WAIT_MS
from shared.codec import without_members
from shared.config import KafkaSettings
from shared.kafka.state import TableFollower
from shared.messages import Incident, IncidentStatus

log = structlog.get_logger(__name__)


RESOLVED_REMEMBERED = 100_000
"""Resolved incidents whose last revision is remembered, so that an older
revision put back on the topic (``corral dlq replay``) does not show them firing."""


@dataclass(slots=True)
class Firing:
    """An incident firing now: its newest revision as read, decoded whole
    when the API first shows it."""

    revision: int
    opened_at: datetime
    data: bytes
    incident: Incident | None = None


class CurrentIncidents:
    """Every revision of every partition comes here, and the API asks now and
    then: a revision's members are only read when the API shows it."""

    def __init__(self, read: Callable[[bytes], Incident] = Incident.from_bytes) -> None:
        self.firing: dict[str, Firing] = {}
        self._resolved: OrderedDict[str, int] = OrderedDict()
        self.read = read

    def apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.firing.pop(key, None)
            return
        try:
            incident = without_members(value)
        except ValidationError as exc:
            log.warning("unreadable incident record; left out of the API", key=key, error=str(exc))
            return
        self.put(incident, value)

    def put(self, incident: Incident, data: bytes) -> None:
        """Keep the newest revision (read as ``data``); a redelivered older one changes nothing."""
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
        self.firing[incident.id] = Firing(incident.revision, incident.opened_at, data)

    def incidents(self) -> list[Incident]:
        shown = []
        for key, firing in sorted(self.firing.items(), key=lambda i: (i[1].opened_at, i[0])):
            if firing.incident is None:
                try:
                    firing.incident = self.read(firing.data)
                except ValidationError as exc:
                    log.warning("unreadable incident members; left out", key=key, error=str(exc))
                    continue
                firing.data = b""
            shown.append(firing.incident)
        return shown


def incident_follower(settings: KafkaSettings, current: CurrentIncidents) -> TableFollower:
    """Reads the whole incidents topic into ``current`` and follows it."""
    return TableFollower(settings, settings.topics.incidents, current.apply, FOLLOW_FETCH_WAIT_MS)
