"""The triaged incident that triage publishes to ``corral.incidents``."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import Field

from shared.messages.alert import AlertContent, AlertStatus
from shared.messages.base import Message

MERGED_KEPT = 50
"""Ids of merged incidents an incident lists; a storm rarely merges more."""


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


class Incident(Message):
    """One revision of an incident.

    ``(id, revision)`` identifies a change: notify sends each revision to each
    receiver at most once, so every real change bumps ``revision`` and nothing
    else does. Numbers go up by one, except that the first revision after
    triage restored its state skips one (docs/triage.md, "State and scale").
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
    merged: list[str] = Field(
        default_factory=list,
        description="Incidents merged into this one, oldest first (the latest MERGED_KEPT).",
    )
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    received_at: datetime | None = Field(
        default=None,
        description="Ingest time of the alert that caused this revision (for latency).",
    )
    # Last, so that a writer can splice in the listing it already encoded
    # (``shared.codec.with_listing``).
    alerts: list[IncidentAlert]

    @property
    def firing_alerts(self) -> list[IncidentAlert]:
        return [a for a in self.alerts if a.status == AlertStatus.FIRING]
