"""Messages from the three topics turned into the events an incident's timeline keeps.

A revision is kept as what changed since the revision before it (alerts that
started or stopped firing, decisions added to the explanation) plus the
summary the lifecycle needs; the whole latest revision lives in the incident
row. Actions and delivery outcomes are kept as they are.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.incidents.lifecycle import Event, EventKind
from services.incidents.times import to_ms
from shared.messages import Action, DeliveryOutcome, Incident, IncidentAlert

# Triage's line standing for explanation lines it left out; not a decision.
_OMITTED_PREFIX = "… and "


def revision_id(revision: int) -> str:
    return f"r/{revision:010d}"


def revision_event(incident: Incident, previous: Incident | None) -> Event:
    before = {a.fingerprint: a for a in previous.alerts} if previous is not None else {}
    changes = [
        _alert_change(alert)
        for alert in incident.alerts
        if alert.fingerprint not in before or before[alert.fingerprint].status != alert.status
    ]
    seen = Counter(previous.explanation if previous is not None else [])
    decisions = []
    for line in incident.explanation:
        if seen[line] > 0:
            seen[line] -= 1
        elif not line.startswith(_OMITTED_PREFIX):
            decisions.append(line)
    data: dict[str, Any] = {
        "revision": incident.revision,
        "event": incident.event.value,
        "status": incident.status.value,
        "priority": incident.priority,
        "severity": incident.severity,
        "firing": sorted(a.fingerprint for a in incident.firing_alerts),
        "changes": changes,
        "decisions": decisions,
    }
    if incident.resolved_at is not None:
        data["resolved_at_ms"] = to_ms(incident.resolved_at)
    if incident.merged_into:
        data["merged_into"] = incident.merged_into
    return Event(
        incident.id,
        revision_id(incident.revision),
        to_ms(incident.updated_at),
        EventKind.REVISION,
        data,
    )


def _alert_change(alert: IncidentAlert) -> dict[str, Any]:
    change: dict[str, Any] = {
        "fingerprint": alert.fingerprint,
        "alertname": alert.labels.get("alertname", ""),
        "status": alert.status.value,
        "labels": alert.labels,
    }
    summary = alert.annotations.get("summary") or alert.annotations.get("description")
    if summary:
        change["summary"] = summary
    return change


def action_event(action: Action) -> Event:
    return Event(
        action.incident_id,
        f"a/{action.action_id}",
        to_ms(action.at),
        EventKind.ACTION,
        action.model_dump(mode="json", exclude_none=True, exclude={"schema_version"}),
    )


def outcome_event(outcome: DeliveryOutcome) -> Event:
    return Event(
        outcome.incident_id,
        f"o/{outcome.outcome_id}",
        to_ms(outcome.at),
        EventKind.OUTCOME,
        outcome.model_dump(mode="json", exclude_none=True, exclude={"schema_version"}),
    )
