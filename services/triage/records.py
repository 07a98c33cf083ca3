"""Triage's state as it is kept on ``corral.triage.state`` (compacted).

Partition N of the topic holds the state of partition N of ``corral.alerts``.
Keys are ``a/<fingerprint>`` for an alert and ``i/<incident id>`` for an
incident; a tombstone (null value) deletes an expired entry; ``o/owner`` is
written by every owner of the partition before its first revision. Only
triage reads these records, to restore its state on partition assignment.

Since version 2 an incident record lists its members by fingerprint, and
the record of an alert its incident lists carries the member: an alert's
record is written when the alert changes, so a revision's state records
cost what changed, not the whole list again. A version 1 incident record
(still read) held the members itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from shared.messages import AlertStatus, IncidentAlert, IncidentStatus, Message


class AlertRecord(Message):
    """What triage remembers of one alert: small, because there are many.

    Written by ``shared.codec.alert_record`` without building the model, the
    member spliced in (``statelog.AlertValue``)."""

    status: AlertStatus
    incident: str | None = None
    changed_at: int = Field(description="Event time of the last status change, ms since epoch.")
    changes: list[int] = Field(
        default_factory=list, description="Recent status change times, for flap detection."
    )
    flapping: bool = False
    ends_at: int | None = Field(
        default=None, description="When the firing alert ends unless sent again, ms since epoch."
    )
    member: IncidentAlert | None = Field(
        default=None, description="The alert as its incident lists it, if it does."
    )


class IncidentRecord(Message):
    """One incident with the members it shows (by reference: see the module);
    membership is rebuilt from alerts.

    Every field but ``schema_version`` is a field of the same name of
    ``state.IncidentState``, which is where the record comes from and what it
    restores (``statelog``), except ``listed``."""

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: int = Field(default=2, le=2)
    id: str
    correlation_key: str
    status: IncidentStatus
    revision: int
    title: str = ""
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    resolve_due: int | None = Field(default=None, description="Quiet period end, ms.")
    held: str | None = Field(default=None, description="Member whose resolve is held back.")
    common_labels: dict[str, str] = Field(default_factory=dict)
    explanation: list[str] = Field(default_factory=list)
    explanation_omitted: int = 0
    root_cause: str | None = None
    merged: list[str] = Field(default_factory=list)
    keys: list[str] = Field(
        default_factory=list, description="Correlation index keys, as ``IndexKey.text``."
    )
    anchors: dict[str, str] = Field(default_factory=dict)
    severity: str = "warning"
    priority: str = "P3"
    score: int = 0
    severity_reason: list[str] = Field(default_factory=list)
    waiting: str | None = Field(
        default=None,
        description="Symptom key (``IndexKey.encoded``) of the cause its alerts all wait for.",
    )
    announce_at: int | None = Field(default=None, description="Held back until then (ms).")
    listed: list[str] | None = Field(
        default=None,
        description="Version 2: the listed members' fingerprints, in order; each member is "
        "in its alert's record.",
    )
    members: list[IncidentAlert] | None = Field(
        default=None, description="Version 1: the listed members themselves."
    )


class OwnerRecord(Message):
    """Written by each owner of a partition, acknowledged before its first
    revision: a state partition with no record at all has had no owner, so
    none of its input was read before (see ``emit.next_number``)."""

    started_at: datetime = Field(
        description="When the owner handled its first batch of the partition."
    )
