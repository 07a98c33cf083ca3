"""Turning either request body into Corral's normalized ``Alert`` messages."""

from __future__ import annotations

from datetime import datetime

from services.ingest.payloads import PostableAlert, WebhookPayload
from shared.fingerprint import fingerprint
from shared.messages import Alert, AlertStatus

SOURCE_ALERTMANAGER = "alertmanager"
SOURCE_PROMETHEUS = "prometheus"


def from_webhook(payload: WebhookPayload, received_at: datetime) -> list[Alert]:
    return [
        Alert(
            fingerprint=alert.fingerprint or fingerprint(alert.labels),
            status=AlertStatus(alert.status),
            labels=alert.labels,
            annotations=alert.annotations,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
            generator_url=alert.generator_url,
            source=SOURCE_ALERTMANAGER,
            received_at=received_at,
            group_key=payload.group_key,
            receiver=payload.receiver,
            external_url=payload.external_url or None,
        )
        for alert in payload.alerts
    ]


def from_api_v2(alerts: list[PostableAlert], received_at: datetime) -> list[Alert]:
    """Prometheus marks a resolved alert by an ``endsAt`` in the past; firing
    alerts carry an ``endsAt`` a few evaluation intervals in the future."""
    return [
        Alert(
            fingerprint=fingerprint(alert.labels),
            status=(
                AlertStatus.RESOLVED
                if alert.ends_at is not None and alert.ends_at <= received_at
                else AlertStatus.FIRING
            ),
            labels=alert.labels,
            annotations=alert.annotations,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
            generator_url=alert.generator_url,
            source=SOURCE_PROMETHEUS,
            received_at=received_at,
        )
        for alert in alerts
    ]
