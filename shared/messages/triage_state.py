"""Triage's state as it is kept on ``corral.triage.state`` (compacted).

Partition N of the topic holds the state of partition N of ``corral.alerts``.
Keys are ``a/<fingerprint>`` for an alert and ``i/<incident id>`` for an
incident; a tombstone (null value) deletes an expired entry. Only triage
reads these records, to restore its state on partition assignment.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from pydantic_core import to_json

from shared.messages.alert import AlertStatus
from shared.messages.base import Message
from shared.messages.incident import IncidentAlert, IncidentStatus, with_listing


class AlertRecord(Message):
    """What triage remembers of one alert: small, because there are many."""

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

    @classmethod
    def encode(
        cls,
        status: AlertStatus,
        incident: str | None,
        changed_at: int,
        changes: list[int],
        flapping: bool,
        ends_at: int | None = None,
    ) -> bytes:
        """What ``AlertRecord(...).to_bytes()`` writes, without building the model.

        Triage writes one for most alerts it reads; building and serializing
        the model cost four times as much as these few fields need.
        """
        return (
            b'{"schema_version":%d,"status":"%s",%s"changed_at":%d,"changes":[%s],"flapping":%s%s}'
            % (
                cls.SCHEMA_VERSION,
                status.value.encode(),
                b"" if incident is None else b'"incident":%s,' % to_json(incident),
                changed_at,
                b",".join(b"%d" % change for change in changes),
                b"true" if flapping else b"false",
                b"" if ends_at is None else b',"ends_at":%d' % ends_at,
            )
        )


class IncidentRecord(Message):
    """One incident with the members it shows; membership is rebuilt from alerts."""

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
    members: list[IncidentAlert] = Field(default_factory=list)
    common_labels: dict[str, str] = Field(default_factory=dict)
    explanation: list[str] = Field(default_factory=list)
    explanation_omitted: int = 0
    root_cause: str | None = None
    keys: list[str] = Field(default_factory=list)
    anchors: dict[str, str] = Field(default_factory=dict)
    severity: str = "warning"
    priority: str = "P3"
    score: int = 0
    severity_reason: list[str] = Field(default_factory=list)

    def to_bytes(self) -> bytes:
        return with_listing(self, "members", self.members)
