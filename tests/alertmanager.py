"""Alertmanager webhook payloads (version 4) as Alertmanager really sends them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp

from shared.fingerprint import fingerprint

ZERO_TIME = "0001-01-01T00:00:00Z"


def am_alert(
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    status: str = "firing",
    starts_at: str = "2026-11-26T10:00:00.000Z",
    ends_at: str | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations or {},
        "startsAt": starts_at,
        "endsAt": ends_at or (ZERO_TIME if status == "firing" else _now()),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        "fingerprint": fingerprint(labels),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def webhook(alerts: list[dict[str, Any]], receiver: str = "corral") -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    common = dict(alerts[0]["labels"])
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert["labels"].get(k) == v}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + common.get("alertname", "") + '"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": {"alertname": common.get("alertname", "")},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


NODE_DOWN = {
    "alertname": "KubeNodeNotReady",
    "cluster": "prod-eu-1",
    "node": "worker-7",
    "severity": "critical",
}
NODE_DOWN_TEXT = {
    "summary": "Node worker-7 is not ready",
    "description": "worker-7 has been unready for more than 15 minutes.",
}


async def send(ingest_url: str, alerts: list[dict[str, Any]], headers: dict[str, str]) -> None:
    """Alerts posted to ingest as Alertmanager posts them; an error unless ingest took them."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{ingest_url}/api/v1/alerts/alertmanager", json=webhook(alerts), headers=headers
        ) as response,
    ):
        if response.status != 200:
            raise RuntimeError(f"ingest answered {response.status}: {await response.text()}")
