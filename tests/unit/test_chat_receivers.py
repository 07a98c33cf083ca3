"""The bodies Teams, Opsgenie, Discord and Telegram get, broker-free: within each
service's limits whatever the incident holds (checked by the same rules the
local stand-ins of tests/integration/receiver_fakes.py enforce), user
templates, and the Alertmanager-shaped webhook body."""

from __future__ import annotations

import json
from typing import Any

from services.notify.alertmanager_payload import alertmanager_body
from services.notify.config import (
    DiscordConfig,
    OpsgenieConfig,
    TeamsConfig,
    TelegramConfig,
)
from services.notify.receivers.base import Delivery
from services.notify.receivers.discord import DiscordIntegration
from services.notify.receivers.opsgenie import OpsgenieIntegration
from services.notify.receivers.teams import TeamsIntegration
from services.notify.receivers.telegram import TelegramIntegration, plain, wait_from_body
from services.notify.templates import Templates
from shared.messages import Incident, IncidentAlert, NotificationKind
from shared.payloads import WebhookPayload
from tests.integration.notify_fakes import incident
from tests.integration.receiver_fakes import DiscordFake, OpsgenieFake, TelegramFake

TEMPLATES = Templates()
SESSION: Any = None  # bodies are built without sending


def delivery(item: Incident, repeat: bool = False) -> Delivery:
    kind = NotificationKind.REPEAT if repeat else NotificationKind.TRIGGER
    return Delivery(item, "oncall", f"{item.id}-{item.revision}", kind)


def huge() -> Incident:
    alerts = [
        IncidentAlert(
            fingerprint=f"{i:016x}",
            status="firing",
            labels={"alertname": "DiskFull" * 100, "instance": f"db-{i}" * 200},
            annotations={"summary": "the disk is full <&> " * 800},
            generator_url="http://prometheus:9090/graph",
        )
        for i in range(100)
    ]
    labels = {"alertname": "DiskFull" * 100, **{f"l{i}": "v" * 1000 for i in range(40)}}
    return incident(labels=labels, alerts=alerts, explanation=["x" * 2000] * 30)


def test_discord_stays_within_embed_limits() -> None:
    integration = DiscordIntegration(
        "discord/0",
        DiscordConfig(webhook_url="https://discord.com/api/webhooks/1/t", content="{{ summary }}"),
        SESSION,
        TEMPLATES,
    )
    message = integration.body(delivery(huge()))
    assert DiscordFake._invalid(message) is None
    assert message["content"].endswith("…")


def test_teams_stays_under_28_kb() -> None:
    integration = TeamsIntegration(
        "msteams/0",
        TeamsConfig(webhook_url="https://example.webhook.office.com/workflows/x"),
        SESSION,
        TEMPLATES,
    )
    message = integration.body(delivery(huge()))
    assert len(json.dumps(message, separators=(",", ":")).encode()) <= 28 * 1024


def test_opsgenie_create_within_its_limits_and_a_template_priority() -> None:
    config = OpsgenieConfig(
        api_key="k",
        priority="{{ 'P1' if incident.labels.team == 'storage' else 'P4' }}",
        tags=[f"tag-{i}" * 20 for i in range(30)],
        actions=[f"action-{i}" for i in range(12)],
    )
    integration = OpsgenieIntegration("opsgenie/0", config, SESSION, TEMPLATES)
    body = integration.body(delivery(huge()))
    assert OpsgenieFake._invalid_create(body) is None
    assert len(body["tags"]) == 20 and all(len(t) <= 50 for t in body["tags"])
    assert body["priority"] == "P4"  # the template's own answer
    storage = integration.body(delivery(incident()))
    assert storage["priority"] == "P1"


def test_opsgenie_falls_back_to_the_incident_priority() -> None:
    integration = OpsgenieIntegration(
        "opsgenie/0", OpsgenieConfig(api_key="k", priority="urgent"), SESSION, TEMPLATES
    )
    assert integration.body(delivery(incident(priority="P2")))["priority"] == "P2"


def test_telegram_too_long_goes_as_plain_text() -> None:
    config = TelegramConfig(
        bot_token="1:x", chat_id=1, message="<b>{{ incident.title }}</b>{{ incident.labels }}"
    )
    body = TelegramIntegration("telegram/0", config, SESSION, TEMPLATES).body(delivery(huge()))
    assert "parse_mode" not in body
    assert len(body["text"]) == 4096 and body["text"].endswith("…")
    assert "<b>" not in body["text"]


def test_telegram_default_message_is_valid_html_and_plain_without_parse_mode() -> None:
    item = incident(labels={"alertname": "Disk<Full>", "team": "a & b"})
    html = TelegramIntegration(
        "telegram/0", TelegramConfig(bot_token="1:x", chat_id=1), SESSION, TEMPLATES
    ).body(delivery(item))
    assert html["parse_mode"] == "HTML"
    assert TelegramFake._valid_html(html["text"])
    text = TelegramIntegration(
        "telegram/0", TelegramConfig(bot_token="1:x", chat_id=1, parse_mode=""), SESSION, TEMPLATES
    ).body(delivery(item))
    assert "parse_mode" not in text
    assert text["text"] == plain(html["text"])
    assert text["text"].startswith("[P3] Disk<Full>: /var is 97% full\n")


def test_telegram_reads_how_long_to_wait_from_the_body() -> None:
    assert wait_from_body(b'{"ok":false,"parameters":{"retry_after":7}}') == 7.0
    assert wait_from_body(b'{"ok":false}') is None
    assert wait_from_body(b"<html>bad gateway</html>") is None


def test_alertmanager_body_lists_the_incident_as_a_group() -> None:
    alerts = [
        IncidentAlert(
            fingerprint="0000000000000001",
            status="firing",
            labels={"alertname": "DiskFull", "instance": "db-1"},
            annotations={"summary": "full", "runbook": "r"},
        ),
        IncidentAlert(
            fingerprint="0000000000000002",
            status="resolved",
            labels={"alertname": "DiskFull", "instance": "db-2"},
            annotations={"summary": "full"},
        ),
    ]
    item = incident(alerts=alerts, labels={"alertname": "DiskFull"}, truncated_alerts=3)
    body = json.loads(alertmanager_body(item, "bridge"))
    WebhookPayload.model_validate(body)
    assert body["truncatedAlerts"] == 3
    assert body["commonAnnotations"] == {"summary": "full"}
    assert [a["status"] for a in body["alerts"]] == ["firing", "resolved"]
    assert body["alerts"][0]["startsAt"] == item.opened_at.isoformat().replace("+00:00", "Z")
    assert body["alerts"][1]["endsAt"] == item.updated_at.isoformat().replace("+00:00", "Z")
