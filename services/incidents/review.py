"""The post-incident review: what happened, how long it took, who did what.

Built from the store's view of one incident (``build_review``) and rendered
as JSON, Markdown or HTML (``render_review``, Jinja2 templates beside this
module). Follow-up actions and lessons are left as empty sections for the
people who hold the review to fill in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from services.incidents.lifecycle import EventKind
from services.incidents.store.incidents import StoredIncident
from services.incidents.templating import ENVIRONMENT
from services.incidents.times import human, iso, to_ms
from services.incidents.views import member, notes, root_cause, seconds_between, timeline


@dataclass
class Person:
    name: str
    roles: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)


@dataclass
class Review:
    incident_id: str
    title: str
    summary: str
    priority: str
    severity: str
    state: str
    team: str
    opened_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    duration_seconds: float | None
    time_to_acknowledge_seconds: float | None
    time_to_resolve_seconds: float | None
    services: list[str]
    alerts: list[dict[str, Any]]
    alert_total: int
    root_cause: dict[str, Any] | None
    root_cause_reasoning: list[str]
    people: list[Person]
    timeline: list[dict[str, Any]]
    notes: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "follow_up_actions": [], "lessons": []}


def build_review(stored: StoredIncident, now_ms: int) -> Review:
    incident, lifecycle, summary = stored.incident, stored.lifecycle, stored.summary
    opened_ms = to_ms(incident.opened_at)
    tta = seconds_between(opened_ms, lifecycle.first_acknowledged_at_ms)
    ttr = seconds_between(opened_ms, lifecycle.resolved_at_ms)
    duration = seconds_between(opened_ms, lifecycle.resolved_at_ms or now_ms)
    cause = root_cause(incident)
    first_ack = _first_acknowledgement(stored)
    return Review(
        incident_id=incident.id,
        title=incident.title,
        summary=_summary(stored, tta, ttr, first_ack),
        priority=incident.priority,
        severity=incident.severity,
        state=lifecycle.effective_state(now_ms).value,
        team=summary["team"],
        opened_at=iso(opened_ms),
        acknowledged_at=iso(lifecycle.first_acknowledged_at_ms),
        acknowledged_by=first_ack,
        resolved_at=iso(lifecycle.resolved_at_ms),
        resolved_by=lifecycle.resolved_by,
        duration_seconds=duration,
        time_to_acknowledge_seconds=tta,
        time_to_resolve_seconds=ttr,
        services=summary["services"],
        alerts=[_alert(a) for a in incident.alerts],
        alert_total=len(incident.alerts) + incident.truncated_alerts,
        root_cause=member(cause) if cause else None,
        root_cause_reasoning=[line for line in incident.explanation if "root" in line],
        people=_people(stored),
        timeline=timeline(stored.events),
        notes=notes(stored.events),
    )


def _first_acknowledgement(stored: StoredIncident) -> str | None:
    at = stored.lifecycle.first_acknowledged_at_ms
    for event in stored.events:
        if (
            event.kind == EventKind.ACTION
            and event.at_ms == at
            and event.data["kind"] in ("acknowledge", "snooze")
        ):
            return str(event.data["actor"])
    return stored.lifecycle.acknowledged_by


def _alert(alert: Any) -> dict[str, Any]:
    return {
        "alertname": alert.labels.get("alertname", ""),
        "status": alert.status.value,
        "labels": alert.labels,
        "summary": alert.annotations.get("summary") or alert.annotations.get("description", ""),
        "starts_at": alert.starts_at.isoformat() if alert.starts_at else None,
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
    }


def _people(stored: StoredIncident) -> list[Person]:
    people: dict[str, Person] = {}
    for role, name in stored.lifecycle.roles.items():
        people.setdefault(name, Person(name)).roles.append(role)
    for event in stored.events:
        if event.kind == EventKind.ACTION:
            person = people.setdefault(event.data["actor"], Person(event.data["actor"]))
            if event.data["kind"] not in person.actions:
                person.actions.append(event.data["kind"])
    return sorted(people.values(), key=lambda p: (not p.roles, p.name))


def _summary(stored: StoredIncident, tta: float | None, ttr: float | None, by: str | None) -> str:
    incident, lifecycle, summary = stored.incident, stored.lifecycle, stored.summary
    team = f" of team {summary['team']}" if summary["team"] else ""
    services = f", affecting {', '.join(summary['services'])}" if summary["services"] else ""
    total = len(incident.alerts) + incident.truncated_alerts
    parts = [
        f"{incident.title}: a {incident.priority} {incident.severity} incident{team}{services}, "
        f"{total} alert{'s' if total != 1 else ''}."
    ]
    if tta is not None:
        parts.append(f"Acknowledged by {by} after {human(tta)}.")
    else:
        parts.append("Never acknowledged.")
    if incident.merged_into:
        parts.append(f"Merged into incident {incident.merged_into}, where its alerts went on.")
    elif ttr is not None:
        who = f"by {lifecycle.resolved_by}" if lifecycle.resolved_by else "when its alerts resolved"
        parts.append(f"Resolved {who} after {human(ttr)}.")
    else:
        parts.append("Not resolved yet.")
    return " ".join(parts)


def render_review(review: Review, form: str) -> str:
    """``markdown`` or ``html``."""
    name = "review.md.j2" if form == "markdown" else "review.html.j2"
    return ENVIRONMENT.get_template(name).render(r=review)
