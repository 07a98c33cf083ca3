"""What triage remembers per partition: the alerts it knows and the incidents they form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.messages import AlertStatus, IncidentAlert, IncidentStatus


@dataclass
class IncidentState:
    id: str
    correlation_key: str
    opened_at: datetime
    updated_at: datetime
    members: dict[str, IncidentAlert] = field(default_factory=dict)
    revision: int = 0
    status: IncidentStatus = IncidentStatus.FIRING
    resolved_at: datetime | None = None
    explanation: list[str] = field(default_factory=list)
    flapping: bool = False
    severity: str = "warning"
    priority: str = "P3"
    score: int = 0
    # Written by the scoring stage: its explanation lines, and labels its rules
    # set (team, runbook_url, noise) that emit adds to the incident's labels.
    severity_reason: list[str] = field(default_factory=list)
    scoring_labels: dict[str, str] = field(default_factory=dict)

    @property
    def all_resolved(self) -> bool:
        return all(a.status == AlertStatus.RESOLVED for a in self.members.values())


@dataclass
class PartitionState:
    """State of one input partition: only its owner reads or writes it."""

    alert_status: dict[str, AlertStatus] = field(default_factory=dict)
    alert_incident: dict[str, str] = field(default_factory=dict)
    incidents: dict[str, IncidentState] = field(default_factory=dict)
    open_by_key: dict[str, str] = field(default_factory=dict)
