"""What the API shows of an incident: its summary, its detail and its timeline.

The summary is computed when the store writes an incident (the list reads
it as it is); the detail and the timeline when one incident is asked for.
Times are RFC 3339 in UTC. The state shown is the state *now*: a snooze that
has ended shows the incident firing again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from services.incidents.lifecycle import Event, EventKind, Lifecycle, State
from services.incidents.revision import Revision
from services.incidents.times import iso, to_ms
from shared import codec
from shared.messages import Incident, IncidentAlert

MAX_SERVICES = 20


@dataclass(frozen=True)
class Describer:
    """Which labels name an incident's team and services."""

    team_label: str = "team"
    service_labels: tuple[str, ...] = ("service", "job")

    def team(self, incident: Incident) -> str:
        return incident.labels.get(self.team_label, "")

    def services(self, members: Iterable[bytes]) -> list[str]:
        """Of members as ``codec.split_members`` gives them."""
        found: list[str] = []
        for member in members:
            for label in self.service_labels:
                value = codec.member_label(member, label)
                if value:
                    if value not in found:
                        found.append(value)
                    break
            if len(found) >= MAX_SERVICES:
                break
        return found


def root_cause(incident: Incident) -> IncidentAlert | None:
    if incident.root_cause is None:
        return None
    return next((a for a in incident.alerts if a.fingerprint == incident.root_cause), None)


def summary(
    revision: Revision, lifecycle: Lifecycle, changed_ms: int, describer: Describer
) -> dict[str, Any]:
    """The list item, as stored; ``shown`` adjusts it to the present."""
    incident = revision.head
    cause = None
    for member, (fingerprint, _) in zip(revision.members, revision.keys, strict=True):
        if fingerprint == incident.root_cause:
            alertname = codec.member_label(member, "alertname")
            cause = fingerprint if alertname is None else alertname
            break
    # The lifecycle's fields are placed here and filled by ``_lived``, which
    # ``patched`` shares.
    stored: dict[str, Any] = {
        "id": incident.id,
        "title": incident.title,
        "state": None,
        "alert_status": incident.status.value,
        "priority": incident.priority,
        "severity": incident.severity,
        "score": incident.score,
        "team": describer.team(incident),
        "services": describer.services(revision.members),
        "root_cause": cause,
        "alerts": {
            "firing": len(revision.firing),
            "total": len(revision.members) + incident.truncated_alerts,
        },
        "roles": None,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "snoozed_until": None,
        "resolved_by": None,
        "revision": incident.revision,
        "opened_at": iso(to_ms(incident.opened_at)),
        "updated_at": None,
        "resolved_at": None,
    }
    stored.update(_lived(lifecycle, changed_ms))
    return stored


SUMMARY_KEYS = (
    "id",
    "title",
    "state",
    "alert_status",
    "priority",
    "severity",
    "score",
    "team",
    "services",
    "root_cause",
    "alerts",
    "roles",
    "acknowledged_by",
    "acknowledged_at",
    "snoozed_until",
    "resolved_by",
    "revision",
    "opened_at",
    "updated_at",
    "resolved_at",
)
"""A summary's fields, in the order ``summary`` writes them."""


def patched(stored: dict[str, Any], lifecycle: Lifecycle, changed_ms: int) -> dict[str, Any] | None:
    """``summary`` of the revision ``stored`` was made of, with another
    lifecycle and time of change, without reading the revision again (an
    action or a delivery outcome changes only these); None if ``stored`` is
    laid out otherwise than ``summary`` writes (by another version): then it
    is made again."""
    if tuple(stored) != SUMMARY_KEYS:
        return None
    return {**stored, **_lived(lifecycle, changed_ms)}


def touched(stored: dict[str, Any], changed_ms: int) -> dict[str, Any]:
    """``patched`` with the lifecycle ``stored`` was made with (one laid out
    as ``summary`` writes it): only the time of change moves."""
    return {**stored, "updated_at": iso(changed_ms)}


def _lived(lifecycle: Lifecycle, changed_ms: int) -> dict[str, Any]:
    """The summary's fields that come of the lifecycle and the last change."""
    return {
        "state": lifecycle.state.value,
        "roles": lifecycle.roles,
        "acknowledged_by": lifecycle.acknowledged_by,
        "acknowledged_at": iso(lifecycle.acknowledged_at_ms),
        "snoozed_until": iso(lifecycle.snoozed_until_ms),
        "resolved_by": lifecycle.resolved_by,
        "updated_at": iso(changed_ms),
        "resolved_at": iso(lifecycle.resolved_at_ms),
    }


def shown(stored: dict[str, Any], snoozed_until_ms: int | None, now_ms: int) -> dict[str, Any]:
    """The stored summary as of ``now_ms``: an ended snooze fires again."""
    if (
        stored["state"] == State.ACKNOWLEDGED
        and snoozed_until_ms is not None
        and snoozed_until_ms <= now_ms
    ):
        return {
            **stored,
            "state": State.FIRING.value,
            "acknowledged_by": None,
            "acknowledged_at": None,
        }
    return stored


def seconds_between(start_ms: int | None, end_ms: int | None) -> float | None:
    if start_ms is None or end_ms is None:
        return None
    return max(0.0, (end_ms - start_ms) / 1000)


def member(alert: IncidentAlert) -> dict[str, Any]:
    return alert.model_dump(mode="json", exclude_none=True)


def detail(
    incident: Incident,
    lifecycle: Lifecycle,
    stored_summary: dict[str, Any],
    events: Sequence[Event],
    now_ms: int,
) -> dict[str, Any]:
    """Everything about one incident: state, members, roles, notes and timeline."""
    opened_ms = to_ms(incident.opened_at)
    cause = root_cause(incident)
    return {
        **shown(stored_summary, lifecycle.snoozed_until_ms, now_ms),
        "labels": incident.labels,
        "correlation_key": incident.correlation_key,
        "flapping": incident.flapping,
        "merged_into": incident.merged_into,
        "explanation": incident.explanation,
        "root_cause": member(cause) if cause else None,
        "members": [member(a) for a in incident.alerts],
        "truncated_alerts": incident.truncated_alerts,
        "time_to_acknowledge_seconds": seconds_between(
            opened_ms, lifecycle.first_acknowledged_at_ms
        ),
        "time_to_resolve_seconds": seconds_between(opened_ms, lifecycle.resolved_at_ms),
        "notes": notes(events),
        "timeline": timeline(events),
    }


def notes(events: Iterable[Event]) -> list[dict[str, Any]]:
    return [
        {"at": iso(e.at_ms), "author": e.data["actor"], "text": e.data["text"]}
        for e in events
        if e.kind == EventKind.ACTION and e.data["kind"] == "note"
    ]


def timeline(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Every event in time order, revisions expanded into their alert changes
    and correlation decisions; each entry has ``at``, ``type`` and ``text``."""
    entries: list[dict[str, Any]] = []
    for event in sorted(events, key=lambda e: e.key):
        at = iso(event.at_ms)
        if event.kind == EventKind.REVISION:
            entries.extend({"at": at, **entry} for entry in _revision_entries(event.data))
        elif event.kind == EventKind.ACTION:
            entries.append({"at": at, **_action_entry(event.data)})
        else:
            entries.append({"at": at, **_outcome_entry(event.data)})
    return entries


def _without(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in names}


def _revision_entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    text = f"revision {data['revision']}: {data['event']}, {data['priority']} {data['severity']}"
    if data.get("merged_into"):
        text += f", merged into {data['merged_into']}"
    entries: list[dict[str, Any]] = [
        {
            "type": "revision",
            "text": text,
            **{k: data[k] for k in ("revision", "event", "status", "priority", "severity")},
        }
    ]
    for listed in data.get("changes", []):
        change = alert_change(listed)
        line = f"{change['alertname'] or change['fingerprint']} {change['status']}"
        if change.get("summary"):
            line += f": {change['summary']}"
        entries.append({"type": "alert", "text": line, **change})
    entries.extend({"type": "decision", "text": line} for line in data.get("decisions", []))
    return entries


def alert_change(listed: dict[str, Any]) -> dict[str, Any]:
    """What the timeline shows of a member a revision changed, as listed
    (a store written before kept this rather than the member: as it is)."""
    if "alertname" in listed:
        return listed
    labels = listed["labels"]
    annotations = listed.get("annotations", {})
    change: dict[str, Any] = {
        "fingerprint": listed["fingerprint"],
        "alertname": labels.get("alertname", ""),
        "status": listed["status"],
        "labels": labels,
    }
    summary = annotations.get("summary") or annotations.get("description")
    if summary:
        change["summary"] = summary
    return change


def _action_entry(data: dict[str, Any]) -> dict[str, Any]:
    entry = {"type": "action", **_without(data, "at", "incident_id", "text")}
    if data.get("text"):
        entry["comment"] = data["text"]
    entry["text"] = action_text(data)
    return entry


def action_text(data: dict[str, Any]) -> str:
    actor, kind = data["actor"], data["kind"]
    via = f" via {data['source']}"
    if kind == "assign":
        text = f"{data['person']} is {data['role'].replace('_', ' ')} (assigned by {actor}{via})"
    elif kind == "note":
        return f"note by {actor}: {data['text']}"
    elif kind == "snooze":
        text = f"snoozed by {actor}{via} until {data['until']}"
    else:
        past = {
            "acknowledge": "acknowledged",
            "unacknowledge": "unacknowledged",
            "resolve": "resolved",
            "reopen": "reopened",
            "escalate": "escalated",
        }[kind]
        text = f"{past} by {actor}{via}"
    if data.get("text"):
        text += f": {data['text']}"
    return text


def _outcome_entry(data: dict[str, Any]) -> dict[str, Any]:
    step = data.get("escalation_step")
    where = f"{data['receiver']} ({data['integration']})"
    text = f"{data['notification']} to {where}: {data['status']}"
    if step:
        policy = data.get("escalation_policy")
        text = f"escalation step {step}{f' of {policy}' if policy else ''}: " + text
    if data.get("error"):
        text += f" ({data['error']})"
    kind = "escalation" if step else "notification"
    return {"type": kind, "text": text, **_without(data, "at", "incident_id")}
