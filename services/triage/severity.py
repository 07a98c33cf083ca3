"""Severity and priority from the alerts' own ``severity`` labels.

The simplest scoring that is still right: an incident is as severe as its
most severe member, and priority follows from severity. Rule and classifier
stages refine this.
"""

from __future__ import annotations

from services.triage.stages import TriageContext
from services.triage.state import IncidentState

# Common spellings of the severity label, mapped to Corral's three levels.
SEVERITY_ALIASES = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "high": "critical",
    "error": "critical",
    "major": "critical",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
}
RANK = {"critical": 3, "warning": 2, "info": 1}
PRIORITY = {"critical": "P1", "warning": "P3", "info": "P5"}
SCORE = {"critical": 90, "warning": 60, "info": 20}
DEFAULT_SEVERITY = "warning"


def alert_severity(labels: dict[str, str]) -> str:
    return SEVERITY_ALIASES.get(labels.get("severity", "").lower(), DEFAULT_SEVERITY)


def assess(incident: IncidentState) -> tuple[str, str, int, str]:
    """(severity, priority, score, reason) of an incident from its members."""
    firing = [m for m in incident.members.values() if m.status == "firing"] or list(
        incident.members.values()
    )
    worst = max(firing, key=lambda m: RANK[alert_severity(m.labels)])
    severity = alert_severity(worst.labels)
    raw = worst.labels.get("severity")
    reason = (
        f"severity {severity} from label severity={raw!r} of {worst.labels.get('alertname', '')}"
        if raw
        else f"severity {severity}: no severity label, default"
    )
    return severity, PRIORITY[severity], SCORE[severity], reason


class SeverityStage:
    async def process(self, ctx: TriageContext) -> None:
        for incident in ctx.changed.values():
            incident.severity, incident.priority, incident.score, incident.severity_reason = assess(
                incident
            )
