"""Alertmanager's webhook body (version 4) for an incident revision.

For receivers written for Alertmanager (``webhook_configs`` with ``payload:
alertmanager``): bridges to chat tools, ticket systems, runbook automation.
The incident is the group: ``groupKey`` names it, ``groupLabels`` and
``commonLabels`` are its common labels, ``alerts`` its listed alerts with
their own status, and ``truncatedAlerts`` counts those left out.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.messages import Incident, IncidentStatus

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero time: how Alertmanager writes the end of an alert still firing."""


def _time(value: datetime | None) -> str:
    return ZERO_TIME if value is None else value.isoformat().replace("+00:00", "Z")


def group_key(incident: Incident) -> str:
    return f'{{}}:{{incident_id="{incident.id}"}}'


def alertmanager_body(incident: Incident, receiver: str) -> bytes:
    alerts: list[dict[str, Any]] = []
    for alert in incident.alerts:
        resolved = alert.status != "firing"
        ends = alert.ends_at if resolved else None
        if resolved and ends is None:
            ends = incident.resolved_at or incident.updated_at
        alerts.append(
            {
                "status": alert.status.value,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": _time(alert.starts_at or incident.opened_at),
                "endsAt": _time(ends),
                "generatorURL": alert.generator_url,
                "fingerprint": alert.fingerprint,
            }
        )
    annotations = [a.annotations for a in incident.alerts]
    common = dict(annotations[0]) if annotations else {}
    for other in annotations[1:]:
        common = {k: v for k, v in common.items() if other.get(k) == v}
    body = {
        "version": "4",
        "groupKey": group_key(incident),
        "truncatedAlerts": incident.truncated_alerts,
        "status": "resolved" if incident.status == IncidentStatus.RESOLVED else "firing",
        "receiver": receiver,
        "groupLabels": incident.labels,
        "commonLabels": incident.labels,
        "commonAnnotations": common,
        "externalURL": "",
        "alerts": alerts,
    }
    return json.dumps(body, ensure_ascii=False).encode()
