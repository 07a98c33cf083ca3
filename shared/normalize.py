"""The request bodies ingest accepts, as the normalized alerts it writes to
``corral.alerts`` (ingest uses it live; ``shared.history`` reads captured webhooks).

Each alert becomes Corral's normalized ``Alert`` message, encoded. The JSON is
written straight from the fields the request model has already validated,
exactly as ``Alert(...).to_bytes()`` would write it (``shared.codec.alert``):
validating the same fields a second time into an ``Alert`` cost more than
parsing the request itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from shared import codec
from shared.fingerprint import fingerprint
from shared.messages import AlertStatus
from shared.messages.alert import SOURCE_ALERTMANAGER, SOURCE_GRAFANA, SOURCE_PROMETHEUS
from shared.payloads import GrafanaWebhook, PostableAlert, WebhookPayload

# Go's zero time: Alertmanager's way of writing "no end time" for firing alerts.
_ZERO_YEAR = 1


class NormalizedAlert(NamedTuple):
    """One ``Alert`` record: its labels (which decide its key) and its JSON.

    A tuple, not a frozen dataclass: built once per alert, where a frozen
    dataclass's ``__init__`` costs as much as encoding the labels."""

    labels: Mapping[str, str]
    data: bytes

    def to_bytes(self) -> bytes:
        return self.data


def _time(value: datetime | None) -> datetime | None:
    """Go's zero time means unset; a timestamp without a zone is taken as UTC."""
    if value is None or value.year == _ZERO_YEAR:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def from_webhook(payload: WebhookPayload, received_at: datetime) -> list[NormalizedAlert]:
    envelope = codec.alert_envelope(
        SOURCE_ALERTMANAGER,
        received_at,
        payload.group_key,
        payload.receiver,
        payload.external_url or None,
    )
    return [
        NormalizedAlert(
            alert.labels,
            codec.alert(
                envelope,
                alert.fingerprint or fingerprint(alert.labels),
                alert.status,
                alert.labels,
                alert.annotations,
                _time(alert.starts_at),
                _time(alert.ends_at),
                alert.generator_url,
            ),
        )
        for alert in payload.alerts
    ]


GRAFANA_LINKS = {
    "dashboard_url": "dashboard_url",
    "panel_url": "panel_url",
    "image_url": "image_url",
    "value_string": "values",
}
"""Grafana's fields an on-call engineer wants, kept as annotations of these names."""


def from_grafana(payload: GrafanaWebhook, received_at: datetime) -> list[NormalizedAlert]:
    """Grafana notifies as Alertmanager does (it sends the resolve itself), so a
    firing alert has no end. Its fingerprint covers labels it does not send;
    the alert's identity is the hash of the labels it does, as on every other
    path, so the alert is one alert however Grafana sends it."""
    envelope = codec.alert_envelope(
        SOURCE_GRAFANA,
        received_at,
        payload.group_key or None,
        payload.receiver or None,
        payload.external_url or None,
    )
    alerts = []
    for alert in payload.alerts:
        annotations = dict(alert.annotations)
        for field, name in GRAFANA_LINKS.items():
            value = getattr(alert, field)
            if value and name not in annotations:
                annotations[name] = value
        resolved = alert.status == AlertStatus.RESOLVED.value
        data = codec.alert(
            envelope,
            fingerprint(alert.labels),
            alert.status,
            alert.labels,
            annotations,
            _time(alert.starts_at),
            _time(alert.ends_at) if resolved else None,
            alert.generator_url,
        )
        alerts.append(NormalizedAlert(alert.labels, data))
    return alerts


def from_api_v2(
    alerts: list[PostableAlert], received_at: datetime, source: str = SOURCE_PROMETHEUS
) -> list[NormalizedAlert]:
    """Prometheus marks a resolved alert by an ``endsAt`` in the past; firing
    alerts carry an ``endsAt`` a few evaluation intervals in the future.
    (Generic JSON webhooks' alerts arrive in this shape too, with their own source.)"""
    envelope = codec.alert_envelope(source, received_at)
    return [_from_postable(alert, envelope, received_at) for alert in alerts]


def _from_postable(alert: PostableAlert, envelope: bytes, received_at: datetime) -> NormalizedAlert:
    ends_at = _time(alert.ends_at)
    resolved = ends_at is not None and ends_at <= received_at
    status = AlertStatus.RESOLVED if resolved else AlertStatus.FIRING
    data = codec.alert(
        envelope,
        fingerprint(alert.labels),
        status,
        alert.labels,
        alert.annotations,
        _time(alert.starts_at),
        ends_at,
        alert.generator_url,
    )
    return NormalizedAlert(alert.labels, data)
