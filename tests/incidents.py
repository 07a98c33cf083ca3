"""Building incident revisions, actions and outcomes for the incidents service's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.messages import (
    Action,
    DeliveryOutcome,
    Incident,
    IncidentAlert,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert(
    name: str, status: str = "firing", fingerprint: str | None = None, **labels: str
) -> IncidentAlert:
    return IncidentAlert(
        fingerprint=fingerprint or f"fp-{name.lower()}",
        status=status,
        labels={"alertname": name, "cluster": "prod", "team": "storage", **labels},
        annotations={"summary": f"{name} on db-1"},
        starts_at=T0,
        generator_url="http://prometheus:9090/graph",
    )


def revision(
    revision: int,
    alerts: list[IncidentAlert],
    seconds: float,
    id: str = "inc-1",
    explanation: list[str] | None = None,
    **fields: Any,
) -> Incident:
    firing = any(a.status == "firing" for a in alerts)
    event = fields.pop("event", "opened" if revision == 1 else "updated" if firing else "resolved")
    return Incident(
        id=id,
        revision=revision,
        event=event,
        status="firing" if firing else "resolved",
        correlation_key="cluster=prod",
        title=fields.pop("title", "DiskFull: /var on db-1 is 97% full"),
        labels=fields.pop("labels", {"cluster": "prod", "team": "storage"}),
        alerts=alerts,
        severity=fields.pop("severity", "critical"),
        priority=fields.pop("priority", "P1"),
        score=fields.pop("score", 85),
        explanation=explanation or [f"opened by {alerts[0].labels['alertname']}"],
        opened_at=T0,
        updated_at=at(seconds),
        resolved_at=None if firing else at(seconds),
        **fields,
    )


def action(
    kind: str, seconds: float, actor: str = "alice", id: str = "inc-1", **fields: Any
) -> Action:
    return Action(
        action_id=fields.pop("action_id", f"{kind}-{actor}-{seconds}"),
        incident_id=id,
        kind=kind,
        actor=actor,
        at=at(seconds),
        source=fields.pop("source", "api"),
        **fields,
    )


def outcome(
    seconds: float, receiver: str = "oncall", status: str = "sent", id: str = "inc-1", **fields: Any
) -> DeliveryOutcome:
    return DeliveryOutcome(
        incident_id=id,
        revision=fields.pop("revision", 1),
        receiver=receiver,
        integration=fields.pop("integration", "pagerduty/0"),
        notification=fields.pop("notification", "trigger"),
        status=status,
        key=fields.pop("key", f"{id}-1-{receiver}-{seconds}"),
        at=at(seconds),
        **fields,
    )
