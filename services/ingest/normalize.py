"""Turning either request body into Corral's normalized ``Alert`` messages."""

from __future__ import annotations

from datetime import UTC, datetime

from services.ingest.payloads import PostableAlert, WebhookPayload
from shared.fingerprint import fingerprint
from shared.messages import Alert, AlertStatus

# Go's zero time: Alertmanager's way of writing "no end time" for firing alerts.
_ZERO_YEAR = 1

SOURCE_ALERTMANAGER = "alertmanager"
SOURCE_PROMETHEUS = "prometheus"


def _time(value: datetime | None) -> datetime | None:
    """Go's zero time means unset; a timestamp without a zone is taken as UTC."""
    if value is None or value.year == _ZERO_YEAR:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def from_webhook(payload: WebhookPayload, received_at: datetime) -> list[Alert]:
    return [
        Alert(
            fingerprint=alert.fingerprint or fingerprint(alert.labels),
            status=alert.status,
            labels=alert.labels,
            annotations=alert.annotations,
            starts_at=_time(alert.starts_at),
            ends_at=_time(alert.ends_at),
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
    return [_from_postable(alert, received_at) for alert in alerts]


def _from_postable(alert: PostableAlert, received_at: datetime) -> Alert:
    ends_at = _time(alert.ends_at)
    return Alert(
        fingerprint=fingerprint(alert.labels),
        status=(
            AlertStatus.RESOLVED
            if ends_at is not None and ends_at <= received_at
            else AlertStatus.FIRING
        ),
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=_time(alert.starts_at),
        ends_at=ends_at,
        generator_url=alert.generator_url,
        source=SOURCE_PROMETHEUS,
        received_at=received_at,
    )
