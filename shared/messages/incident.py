"""The triaged incident that triage publishes to ``corral.incidents``."""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime

from pydantic import Field

from shared.messages.alert import AlertContent, AlertStatus
from shared.messages.base import Message


class IncidentStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class IncidentEvent(enum.StrEnum):
    """What changed in this revision, so receivers can word it."""

    OPENED = "opened"
    UPDATED = "updated"
    RESOLVED = "resolved"
    REOPENED = "reopened"


class IncidentAlert(AlertContent):
    """A member alert as the incident carries it."""


class _ListedAlerts:
    """The JSON of the alerts incidents list, kept while they stay listed.

    A busy incident gets a revision every batch, listing up to a hundred
    alerts of which a few changed, and triage writes each revision twice (the
    incident, then its state record): encoding every listed alert each time
    was most of triage's serialization. Alerts are frozen, so an encoding
    never goes stale; entries are keyed by identity and hold the alert, so an
    id is not reused while its entry lives. Bounded to what one batch's
    revisions list, to stay small against triage's memory per alert.
    """

    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict[int, tuple[IncidentAlert, bytes]] = OrderedDict()
        self.serializer = IncidentAlert.__pydantic_serializer__

    def json(self, alerts: Iterable[IncidentAlert]) -> bytes:
        entries = self.entries
        parts = []
        for alert in alerts:
            hit = entries.get(id(alert))
            if hit is not None and hit[0] is alert:
                entries.move_to_end(id(alert))
                parts.append(hit[1])
                continue
            data = self.serializer.to_json(alert, exclude_none=True)
            entries[id(alert)] = (alert, data)
            if len(entries) > self.size:
                entries.popitem(last=False)
            parts.append(data)
        return b"[%s]" % b",".join(parts)


_LISTED = _ListedAlerts(4096)


def with_listing(message: Message, field: str, alerts: list[IncidentAlert]) -> bytes:
    """``message`` as ``to_bytes`` writes it, its list of alerts ``field`` last."""
    head = type(message).__pydantic_serializer__.to_json(
        message, exclude_none=True, exclude={field}
    )
    return b'%s,"%s":%s}' % (head[:-1], field.encode(), _LISTED.json(alerts))


class Incident(Message):
    """One revision of an incident.

    ``(id, revision)`` identifies a change: notify sends each revision to each
    receiver at most once, so every real change bumps ``revision`` and nothing
    else does.
    """

    id: str
    revision: int = Field(ge=1)
    event: IncidentEvent
    status: IncidentStatus
    correlation_key: str
    title: str
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels common to every member alert."
    )
    alerts: list[IncidentAlert]
    truncated_alerts: int = Field(
        default=0, ge=0, description="Member alerts left out of ``alerts`` to bound its size."
    )
    severity: str = Field(description="critical, warning or info.")
    priority: str = Field(pattern=r"^P[1-5]$")
    score: int = Field(default=0, ge=0, le=100)
    explanation: list[str] = Field(default_factory=list)
    root_cause: str | None = Field(default=None, description="Fingerprint of the probable cause.")
    flapping: bool = False
    merged_into: str | None = Field(
        default=None, description="Set on the last revision of an incident merged into another."
    )
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    received_at: datetime | None = Field(
        default=None,
        description="Ingest time of the alert that caused this revision (for latency).",
    )

    def to_bytes(self) -> bytes:
        return with_listing(self, "alerts", self.alerts)

    @property
    def firing_alerts(self) -> list[IncidentAlert]:
        return [a for a in self.alerts if a.status == AlertStatus.FIRING]
