"""What changed in an incident since the last notification a receiver got.

Every notification after an incident's first carries its changes: which
alerts started or stopped firing (grouped by alert name, with the label
their instances differ by: "KubePodNotReady in 4 namespaces"), incidents
merged into it or the one it was merged into, priority, severity, status and
flapping. The sent log keeps, per receiver integration, a ``Shown`` of what
that receiver was last told; ``changes`` compares it with the revision about
to be sent. The webhook body carries the result as its ``changes`` field
(versioned on its own, see docs/notify.md), receivers' texts as ``summary``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.messages import Incident, IncidentAlert

CHANGES_VERSION = "1"
NAMES_SHOWN = 3
"""Alert names spelled out in a summary; the rest are counted."""
VALUES_KEPT = 10
"""Label values an alert group lists."""
PREFERRED = ("namespace", "service", "job", "node", "instance", "pod", "container")
"""Labels that name where alerts are, most telling first, for "in 4 namespaces"."""


class Shown(BaseModel):
    """What a receiver was last told of an incident, enough to say what changed since."""

    model_config = ConfigDict(frozen=True)

    revision: int
    status: str
    priority: str
    severity: str
    flapping: bool = False
    alerts: dict[str, str] = Field(
        default_factory=dict, description="Listed alerts: fingerprint to status."
    )
    truncated: int = 0
    merged: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, incident: Incident) -> Shown:
        # Made for every notification, from a validated incident: not
        # validated again (a member's status is a ``StrEnum``, a str).
        return cls.model_construct(
            revision=incident.revision,
            status=incident.status.value,
            priority=incident.priority,
            severity=incident.severity,
            flapping=incident.flapping,
            alerts={a.fingerprint: a.status for a in incident.alerts},
            truncated=incident.truncated_alerts,
            merged=list(incident.merged),
        )


def unchanged(shown: Shown, incident: Incident) -> bool:
    """Whether ``incident`` would tell a receiver that was shown ``shown``
    nothing new: a notification whose ``changes`` are empty. Triage writes a
    revision only for a change, but after a crash it may write one again
    under the next number (see docs/triage.md)."""
    return Shown.of(incident).model_copy(update={"revision": shown.revision}) == shown


class AlertGroup(BaseModel):
    """Alerts of one name that changed alike, and where they are."""

    model_config = ConfigDict(frozen=True)

    alertname: str
    count: int
    label: str | None = Field(
        default=None, description="The label their instances differ by (fewest values)."
    )
    distinct: int = Field(default=0, description="How many values it has among them.")
    values: list[str] = Field(default_factory=list, description="Its first values, sorted.")


class Transition(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    from_: str = Field(alias="from")
    to: str


class Changes(BaseModel):
    """The ``changes`` field of a notification (version ``CHANGES_VERSION``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    version: str = CHANGES_VERSION
    since_revision: int = Field(description="The revision the receiver got before this one.")
    firing: list[AlertGroup] = Field(
        default_factory=list, description="Alerts firing now that were not (joined or again)."
    )
    resolved: list[AlertGroup] = Field(default_factory=list)
    merged: list[str] = Field(default_factory=list, description="Incidents merged into it.")
    merged_into: str | None = None
    priority: Transition | None = None
    severity: Transition | None = None
    status: Transition | None = None
    flapping: bool | None = Field(default=None, description="Set when it changed.")
    summary: str = ""

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def changes(shown: Shown | None, incident: Incident) -> Changes | None:
    """The changes since ``shown``; None for a first notification."""
    if shown is None:
        return None
    now = {a.fingerprint: a for a in incident.alerts}
    firing = [
        a
        for fp, a in now.items()
        if a.status.value == "firing" and shown.alerts.get(fp) != "firing"
    ]
    resolved = [
        a
        for fp, a in now.items()
        if a.status.value == "resolved" and shown.alerts.get(fp) == "firing"
    ]
    known = set(shown.merged)
    found = Changes(
        since_revision=shown.revision,
        firing=groups(firing),
        resolved=groups(resolved),
        merged=[i for i in incident.merged if i not in known],
        merged_into=incident.merged_into,
        priority=_changed(shown.priority, incident.priority),
        severity=_changed(shown.severity, incident.severity),
        status=_changed(shown.status, incident.status.value),
        flapping=incident.flapping if incident.flapping != shown.flapping else None,
    )
    extra = incident.truncated_alerts - shown.truncated
    return found.model_copy(update={"summary": summary(found, extra)})


def _changed(before: str, after: str) -> Transition | None:
    return None if before == after else Transition(from_=before, to=after)


def groups(alerts: Iterable[IncidentAlert]) -> list[AlertGroup]:
    """By alert name, biggest first, each with the label its alerts differ by."""
    by_name: dict[str, list[Mapping[str, str]]] = {}
    for alert in alerts:
        by_name.setdefault(alert.labels.get("alertname", "alert"), []).append(alert.labels)
    found = []
    for name, labels in by_name.items():
        label, values = _spread(labels)
        found.append(
            AlertGroup(
                alertname=name,
                count=len(labels),
                label=label,
                distinct=len(values),
                values=values[:VALUES_KEPT],
            )
        )
    return sorted(found, key=lambda g: (-g.count, g.alertname))


def _spread(labels: list[Mapping[str, str]]) -> tuple[str | None, list[str]]:
    """The label whose values tell these alerts apart with the fewest values
    (``namespace`` before ``pod``); for one alert, the most telling label it has."""
    if len(labels) == 1:
        only = labels[0]
        name = next((n for n in PREFERRED if only.get(n)), None)
        return name, [only[name]] if name else []
    names = {n for one in labels for n in one if n not in ("alertname", "severity")}
    candidates = []
    for name in names:
        counted = Counter(one.get(name, "") for one in labels)
        if len(counted) > 1:
            rank = PREFERRED.index(name) if name in PREFERRED else len(PREFERRED)
            candidates.append((len(counted), rank, name, sorted(counted)))
    if not candidates:
        return None, []
    _, _, name, values = min(candidates)
    return name, [v for v in values if v]


def _where(group: AlertGroup) -> str:
    if group.label is None or not group.values:
        return group.alertname
    if group.distinct == 1:
        return f"{group.alertname} ({group.label} {group.values[0]})"
    return f"{group.alertname} in {group.distinct} {_plural(group.label)}"


def _plural(label: str) -> str:
    return label if label.endswith("s") else label + "s"


def _alerts(sign: str, found: list[AlertGroup], verb: str = "") -> str:
    count = sum(g.count for g in found)
    noun = "alert" if count == 1 else "alerts"
    names = []
    for group in found[:NAMES_SHOWN]:
        where = _where(group)
        names.append(where if len(found) == 1 else f"{group.count} {where}")
    if len(found) > NAMES_SHOWN:
        names.append(f"{len(found) - NAMES_SHOWN} more names")
    return f"{sign}{count} {noun}{verb}: {', '.join(names)}"


def summary(found: Changes, truncated: int = 0) -> str:
    """One line: "+12 alerts: KubePodNotReady in 4 namespaces; merged 2 incidents; now P1"."""
    parts = []
    if found.merged_into:
        parts.append(f"merged into {found.merged_into}")
    if found.firing:
        parts.append(_alerts("+", found.firing))
    if truncated > 0:
        parts.append(f"+{truncated} alerts not listed")
    if found.resolved:
        parts.append(_alerts("", found.resolved, " resolved"))
    if found.merged:
        count = len(found.merged)
        parts.append(f"merged {count} incident{'s' if count > 1 else ''}")
    if found.priority:
        parts.append(f"now {found.priority.to} (was {found.priority.from_})")
    if found.severity:
        parts.append(f"severity {found.severity.to} (was {found.severity.from_})")
    if found.status and not found.merged_into:
        parts.append("resolved" if found.status.to == "resolved" else "firing again")
    if found.flapping is not None:
        parts.append("flapping" if found.flapping else "no longer flapping")
    return "; ".join(parts) or "no change in alerts, priority or status"
