"""Teams, Opsgenie, Discord, Telegram and the Alertmanager-shaped webhook over the
real broker, each against a local server speaking the service's API: the
payload it takes, rate limits honoured, secrets from files kept out of errors."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.config import KafkaSettings
from shared.messages import DeadLetter, IncidentAlert
from shared.payloads import WebhookPayload
from tests.helpers import RecordingServer, read_topic, running, wait_ready
from tests.integration.notify_fakes import incident, notify_worker, one_receiver, publish
from tests.integration.receiver_fakes import (
    DiscordFake,
    OpsgenieFake,
    TeamsWorkflowFake,
    TelegramFake,
)

pytestmark = pytest.mark.broker


async def first_dead_letter(kafka: KafkaSettings) -> DeadLetter:
    for _ in range(100):
        values = await read_topic(kafka, kafka.topics.dead_letters)
        if values:
            [letter] = [DeadLetter.from_bytes(v) for v in values]
            return letter
        await asyncio.sleep(0.1)
    raise AssertionError("no dead letter")


async def test_teams_adaptive_card_then_a_resolved_card(kafka: KafkaSettings) -> None:
    teams = await TeamsWorkflowFake(responses=[(429, {"Retry-After": "1"})]).start()
    config = one_receiver("team", msteams_configs=[{"webhook_url": teams.url()}])
    await publish(kafka, incident(priority="P2", severity="critical"))
    async with running(notify_worker(kafka, config)):
        await teams.next()  # rate limited
        limited = time.monotonic()
        await teams.next()
        waited = time.monotonic() - limited
        await publish(kafka, incident(2, "resolved"))
        await teams.next()
    assert waited >= 0.9  # Retry-After, not the 50-200 ms backoff
    opened, resolved = teams.cards
    title, summary, facts, *alerts = opened["body"]
    assert (title["text"], title["color"]) == ("[P2] DiskFull: /var is 97% full", "Attention")
    assert summary["text"] == "/var on db-1 is 97% full"
    assert facts["facts"] == [
        {"title": "Priority", "value": "P2"},
        {"title": "Severity", "value": "critical"},
        {"title": "Status", "value": "firing"},
        {"title": "Alerts", "value": "1 firing of 1"},
        {"title": "Incident", "value": "inc-1 (revision 1)"},
    ]
    assert [a["text"] for a in alerts] == ["- DiskFull: /var on db-1 is 97% full"]
    assert opened["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open",
            "url": "http://prometheus:9090/graph?g0.expr=disk",
        }
    ]
    assert (resolved["body"][0]["text"], resolved["body"][0]["color"]) == (
        "Resolved: [P3] DiskFull: /var is 97% full",
        "Good",
    )
    await teams.stop()


async def test_opsgenie_alert_by_alias_updated_acknowledged_and_closed(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    opsgenie = await OpsgenieFake().start()
    key_file = tmp_path / "opsgenie-key"
    key_file.write_text(opsgenie.key + "\n")
    config = one_receiver(
        "oncall",
        opsgenie_configs=[
            {
                "api_key_file": str(key_file),
                "api_url": opsgenie.url("/"),
                "responders": [{"name": "storage", "type": "team"}],
                "tags": ["corral", "{{ incident.labels.team }}"],
                "details": {"runbook": "https://runbooks.example.com/disk"},
                "update_alerts": True,
            }
        ],
    )
    worker = notify_worker(kafka, config)
    async with running(worker, worker.app()) as port:
        await wait_ready(worker)
        await publish(kafka, incident(explanation=["disk above 95%"]))
        created = (await opsgenie.next()).json()
        await publish(kafka, incident(2, priority="P1", severity="critical"))
        for _ in range(4):  # the create (a repeat to Opsgenie), then three updates
            await opsgenie.next()
        # Someone silences the incident while they resize the disk: acknowledged.
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/api/v1/silences",
                json={
                    "matchers": ["incident_id=inc-1"],
                    "endsAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                    "createdBy": "alice",
                    "comment": "resizing",
                },
            ) as answer,
        ):
            assert answer.status == 200
        acknowledged = await opsgenie.next()
        await publish(kafka, incident(3, "resolved"))
        closed = await opsgenie.next()

    assert created == {
        "message": "[P3] DiskFull: /var is 97% full",
        "alias": "inc-1",
        "description": created["description"],
        "source": "corral",
        "priority": "P3",
        "details": {
            "incident": "inc-1",
            "revision": "1",
            "priority": "P3",
            "severity": "warning",
            "score": "0",
            "label.alertname": "DiskFull",
            "label.team": "storage",
            "runbook": "https://runbooks.example.com/disk",
        },
        "tags": ["corral", "storage"],
        "responders": [{"type": "team", "name": "storage"}],
    }
    assert "disk above 95%" in created["description"]
    assert acknowledged.path == "/v2/alerts/inc-1/acknowledge?identifierType=alias"
    assert closed.path == "/v2/alerts/inc-1/close?identifierType=alias"
    alert = opsgenie.alerts["inc-1"]
    assert (alert["status"], alert["count"], opsgenie.pages) == ("closed", 2, 1)
    # update_alerts brought the open alert up to date with revision 2.
    assert (alert["message"], alert["priority"]) == ("[P1] DiskFull: /var is 97% full", "P1")
    assert alert["notes"] == [
        "Acknowledged in Corral: a silence covers the incident",
        "Resolved (revision 3)",
    ]
    await opsgenie.stop()


async def test_opsgenie_wrong_key_is_dead_lettered_without_the_key(kafka: KafkaSettings) -> None:
    opsgenie = await OpsgenieFake().start()
    config = one_receiver(
        "oncall", opsgenie_configs=[{"api_key": "wrong-key-1234", "api_url": opsgenie.url("/")}]
    )
    await publish(kafka, incident())
    async with running(notify_worker(kafka, config)):
        await opsgenie.next()
        letter = await first_dead_letter(kafka)
    assert letter.reason.startswith("HTTP 401: ")
    assert (letter.retryable, letter.attempts) == (False, 1)
    assert "wrong-key-1234" not in letter.reason
    await opsgenie.stop()


async def test_discord_embed_mentions_nobody_and_waits_when_rate_limited(
    kafka: KafkaSettings,
) -> None:
    discord = await DiscordFake(responses=[(429, {"Retry-After": "1"})]).start()
    config = one_receiver(
        "chat",
        discord_configs=[{"webhook_url": discord.url(), "username": "Corral"}],
    )
    labels = {"alertname": "DiskFull", "team": "@everyone"}
    await publish(kafka, incident(labels=labels))
    async with running(notify_worker(kafka, config)):
        await discord.next()
        limited = time.monotonic()
        message = (await discord.next()).json()
        waited = time.monotonic() - limited
    assert waited >= 0.9
    [embed] = message["embeds"]
    assert message["allowed_mentions"] == {"parse": []}
    assert message["username"] == "Corral"
    assert embed["title"] == "[P3] DiskFull: /var is 97% full"
    assert embed["description"] == "/var on db-1 is 97% full"
    assert embed["url"] == "http://prometheus:9090/graph?g0.expr=disk"
    assert embed["color"] == 0xD92D20
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [
        ("Priority", "P3"),
        ("Severity", "warning"),
        ("Status", "firing"),
        ("Alerts", "1 firing of 1"),
        ("Firing", "• DiskFull: /var on db-1 is 97% full"),
    ]
    assert embed["footer"] == {"text": "Incident inc-1 · revision 1 · opened"}
    await discord.stop()


async def test_telegram_html_message_token_from_a_file(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    telegram = await TelegramFake(responses=[(429, {"X-Wait": "1"})]).start()
    token_file = tmp_path / "telegram-token"
    token_file.write_text(telegram.token)
    chat = telegram.chats[0]
    config = one_receiver(
        "chat",
        telegram_configs=[
            {"api_url": telegram.url(), "bot_token_file": str(token_file), "chat_id": chat}
        ],
    )
    labels = {"alertname": "DiskFull", "team": "<b>storage & co</b>"}
    alerts = [
        IncidentAlert(
            fingerprint="c5f2b3a1d4e6f708",
            status="firing",
            labels=labels,
            annotations={"summary": "/var on <db-1> is 97% full & rising"},
            generator_url="http://prometheus:9090/graph?g0.expr=disk&g0.tab=1",
        )
    ]
    await publish(kafka, incident(labels=labels, alerts=alerts))
    async with running(notify_worker(kafka, config)):
        await telegram.next()  # 429, with retry_after in the body
        limited = time.monotonic()
        await telegram.next()
        waited = time.monotonic() - limited
    assert waited >= 0.9
    [message] = telegram.messages
    assert message["parse_mode"] == "HTML"
    assert message["chat_id"] == chat
    assert message["text"] == (
        "<b>[P3] DiskFull: /var is 97% full</b>\n"
        "/var on &lt;db-1&gt; is 97% full &amp; rising\n\n"
        "Priority P3 · severity warning · 1 of 1 alerts firing\n"
        '<a href="http://prometheus:9090/graph?g0.expr=disk&amp;g0.tab=1">Open</a>\n'
        "<i>Incident inc-1, revision 1</i>"
    )
    await telegram.stop()


async def test_telegram_chat_not_found_is_dead_lettered_without_the_token(
    kafka: KafkaSettings,
) -> None:
    telegram = await TelegramFake().start()
    config = one_receiver(
        "chat",
        telegram_configs=[{"api_url": telegram.url(), "bot_token": telegram.token, "chat_id": 42}],
    )
    await publish(kafka, incident())
    async with running(notify_worker(kafka, config)):
        await telegram.next()
        letter = await first_dead_letter(kafka)
    assert "chat not found" in letter.reason
    assert not letter.retryable
    assert telegram.token not in letter.reason and "BOT-TOKEN" not in letter.reason
    await telegram.stop()


async def test_webhook_with_alertmanager_payload(kafka: KafkaSettings) -> None:
    hook = await RecordingServer().start()
    config = one_receiver(
        "bridge", webhook_configs=[{"url": hook.url(), "payload": "alertmanager"}]
    )
    await publish(kafka, incident())
    async with running(notify_worker(kafka, config)):
        firing = await hook.next()
        await publish(kafka, incident(2, "resolved"))
        resolved = (await hook.next()).json()
    body: dict[str, Any] = firing.json()
    assert firing.headers["Idempotency-Key"] == "inc-1-1"
    # What Alertmanager's own webhook consumers read, Corral's ingest included.
    payload = WebhookPayload.model_validate(body)
    assert (payload.version, payload.status, payload.receiver) == ("4", "firing", "bridge")
    assert body["groupKey"] == '{}:{incident_id="inc-1"}'
    assert body["commonLabels"] == {"alertname": "DiskFull", "team": "storage"}
    assert body["commonAnnotations"] == {"summary": "/var on db-1 is 97% full"}
    [alert] = body["alerts"]
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["fingerprint"] == "c5f2b3a1d4e6f708"
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    await hook.stop()
