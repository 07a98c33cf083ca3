"""Parsing both request shapes into normalized alerts."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.fingerprint import fingerprint
from shared.messages import Alert, AlertStatus
from shared.normalize import NormalizedAlert, from_api_v2, from_webhook
from shared.payloads import PostableAlerts, WebhookPayload
from tests.alertmanager import NODE_DOWN, am_alert, webhook

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def decoded(alerts: list[NormalizedAlert]) -> list[Alert]:
    """What triage reads back, checked to be what the ``Alert`` model itself writes."""
    out = []
    for normalized in alerts:
        alert = Alert.from_bytes(normalized.to_bytes())
        assert normalized.to_bytes() == alert.to_bytes()
        assert normalized.labels == alert.labels
        out.append(alert)
    return out


def test_webhook_keeps_alertmanager_fields() -> None:
    body = webhook([am_alert(NODE_DOWN), am_alert({**NODE_DOWN, "node": "w8"}, status="resolved")])
    body["alerts"][0]["fingerprint"] = "abcdef0123456789"
    body["truncatedAlerts"] = 3
    first, second = decoded(from_webhook(WebhookPayload.model_validate(body), NOW))
    assert first.fingerprint == "abcdef0123456789"  # Alertmanager's own wins
    assert first.ends_at is None  # "0001-01-01T00:00:00Z" means no end
    assert first.starts_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert first.group_key == body["groupKey"]
    assert first.receiver == "corral" and first.source == "alertmanager"
    assert second.status == AlertStatus.RESOLVED and second.ends_at is not None
    assert first.received_at == NOW
    assert first.external_url == body["externalURL"]


def test_every_alert_field_is_written() -> None:
    """A field added to ``Alert`` must be added to the encoding too."""
    body = webhook([am_alert(NODE_DOWN, status="resolved")])
    body["alerts"][0]["annotations"] = {"summary": "node w7 down \u2026"}
    (alert,) = decoded(from_webhook(WebhookPayload.model_validate(body), NOW))
    assert alert.model_fields_set == set(Alert.model_fields)


def test_naive_times_are_utc_and_absent_ones_left_out() -> None:
    body = webhook([am_alert(NODE_DOWN)])
    body["alerts"][0]["startsAt"] = "2026-11-26T10:00:00"
    del body["externalURL"]
    (alert,) = decoded(from_webhook(WebhookPayload.model_validate(body), NOW))
    assert alert.starts_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert alert.ends_at is None and alert.external_url is None


def test_api_v2_status_comes_from_ends_at() -> None:
    labels = {"alertname": "HighLatency", "service": "api"}
    body = [
        {"labels": labels, "endsAt": "2026-11-26T12:04:00Z"},
        {"labels": {**labels, "service": "web"}, "endsAt": "2026-11-26T11:59:00Z"},
        {"labels": {**labels, "service": "db"}, "annotations": None},
    ]
    alerts = decoded(from_api_v2(PostableAlerts.model_validate(body).root, NOW))
    assert [a.status for a in alerts] == [
        AlertStatus.FIRING,
        AlertStatus.RESOLVED,
        AlertStatus.FIRING,
    ]
    assert alerts[0].fingerprint == fingerprint(labels)
    assert alerts[2].annotations == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([{"labels": {}}], (0, "labels")),
        ([{"labels": {"0bad": "x"}}], (0, "labels", "0bad", "[key]")),
        ([{"labels": {"a": "b"}, "startsAt": "yesterday"}], (0, "startsAt")),
        ({"labels": {"a": "b"}}, ()),
    ],
)
def test_api_v2_rejects_bad_alerts(body: object, field: tuple) -> None:
    with pytest.raises(ValidationError) as caught:
        PostableAlerts.model_validate(body)
    assert caught.value.errors()[0]["loc"] == field
