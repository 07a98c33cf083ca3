"""Each receiver over the real broker, against a local stand-in for its service:
the exact payload it sends, and that routes pick the right receiver."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import pytest

from shared.config import KafkaSettings
from tests.helpers import RecordingServer, running
from tests.integration.notify_fakes import (
    PagerDutyFake,
    SmtpFake,
    incident,
    notify_worker,
    one_receiver,
    publish,
)

pytestmark = pytest.mark.broker


async def test_pagerduty_events_v2_trigger_then_resolve(kafka: KafkaSettings) -> None:
    pagerduty = await PagerDutyFake().start()
    config = one_receiver(
        "oncall",
        pagerduty_configs=[{"routing_key": "R0UT1NGKEY", "url": pagerduty.url()}],
    )
    firing = incident(priority="P1", severity="critical", explanation=["disk above 95%"])
    await publish(kafka, firing)
    async with running(notify_worker(kafka, config)):
        trigger = (await pagerduty.next()).json()
        await publish(kafka, incident(2, "resolved"))
        resolve = (await pagerduty.next()).json()

    assert trigger == {
        "routing_key": "R0UT1NGKEY",
        "dedup_key": "inc-1",
        "event_action": "trigger",
        "client": "Corral",
        "client_url": "http://prometheus:9090/graph?g0.expr=disk",
        "links": [{"href": "http://prometheus:9090/graph?g0.expr=disk", "text": "DiskFull"}],
        "payload": {
            "summary": "[P1] DiskFull: /var is 97% full",
            "source": "corral",
            "severity": "critical",
            "timestamp": firing.updated_at.isoformat(),
            "class": "DiskFull",
            "custom_details": {
                "incident": "inc-1",
                "revision": 1,
                "event": "opened",
                "priority": "P1",
                "score": 0,
                "summary": "/var on db-1 is 97% full",
                "labels": {"alertname": "DiskFull", "team": "storage"},
                "explanation": ["disk above 95%"],
                "firing": [
                    {
                        "labels": {
                            "alertname": "DiskFull",
                            "team": "storage",
                            "instance": "db-1:9100",
                            "severity": "warning",
                        },
                        "annotations": {"summary": "/var on db-1 is 97% full"},
                    }
                ],
            },
        },
    }
    assert resolve == {"routing_key": "R0UT1NGKEY", "dedup_key": "inc-1", "event_action": "resolve"}
    assert pagerduty.incidents == {"inc-1": "resolved"}
    assert pagerduty.pages == 1
    await pagerduty.stop()


async def test_slack_blocks_and_a_new_message_on_resolve(kafka: KafkaSettings) -> None:
    slack = await RecordingServer().start()
    config = one_receiver(
        "team",
        slack_configs=[
            {
                "api_url": slack.url("/services/T000/B000/XXXX"),
                "channel": "#storage",
                "text": "{{ summary }} <{{ link }}|graph> (team {{ incident.labels.team }})",
            }
        ],
    )
    await publish(kafka, incident(labels={"alertname": "DiskFull", "team": "<storage>"}))
    async with running(notify_worker(kafka, config)):
        opened = await slack.next()
        await publish(kafka, incident(2, "resolved"))
        resolved = (await slack.next()).json()

    assert opened.path == "/services/T000/B000/XXXX"
    message = opened.json()
    assert message["channel"] == "#storage"
    assert message["text"] == "[P3] DiskFull: /var is 97% full"
    header, section, context, actions = message["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[P3] DiskFull: /var is 97% full", "emoji": True},
    }
    # The user's template; what it inserts is escaped for mrkdwn, its own markup is not.
    assert section["text"] == {
        "type": "mrkdwn",
        "text": "/var on db-1 is 97% full <http://prometheus:9090/graph?g0.expr=disk|graph> "
        "(team &lt;storage&gt;)",
    }
    assert section["fields"] == [
        {"type": "mrkdwn", "text": "*Priority*\nP3"},
        {"type": "mrkdwn", "text": "*Severity*\nwarning"},
        {"type": "mrkdwn", "text": "*Status*\n:red_circle: firing"},
        {"type": "mrkdwn", "text": "*Alerts*\n1 firing of 1"},
    ]
    assert context["type"] == "context"
    assert "Incident `inc-1` · revision 1 · opened" in context["elements"][0]["text"]
    assert actions["elements"][0]["url"] == "http://prometheus:9090/graph?g0.expr=disk"

    assert resolved["text"] == "Resolved: [P3] DiskFull: /var is 97% full"
    assert resolved["blocks"][1]["fields"][2]["text"] == "*Status*\n:large_green_circle: resolved"
    assert resolved["blocks"][1]["fields"][3]["text"] == "*Alerts*\n0 firing of 1"
    await slack.stop()


async def test_webhook_is_signed_with_hmac_and_carries_bearer_and_idempotency_key(
    kafka: KafkaSettings,
) -> None:
    hook = await RecordingServer().start()
    config = one_receiver(
        "hook",
        webhook_configs=[{"url": hook.url(), "bearer_token": "t0ken", "hmac_secret": "shh"}],
    )
    await publish(kafka, incident())
    async with running(notify_worker(kafka, config)):
        request = await hook.next()

    # The signature covers the timestamp, so a captured request cannot be replayed later.
    timestamp = request.headers["X-Corral-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    signed = timestamp.encode() + b"." + request.body
    expected = hmac.new(b"shh", signed, hashlib.sha256).hexdigest()
    assert request.headers["X-Corral-Signature"] == f"sha256={expected}"
    assert request.headers["Authorization"] == "Bearer t0ken"
    assert request.headers["Idempotency-Key"] == "inc-1-1"
    body = request.json()
    assert (body["version"], body["receiver"], body["repeat"]) == ("1", "hook", False)
    assert (body["id"], body["revision"], body["status"]) == ("inc-1", 1, "firing")
    await hook.stop()


async def test_email_over_starttls_with_auth_plain_and_html(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    smtp = SmtpFake(tmp_path).start()
    config = one_receiver(
        "mail",
        email_configs=[
            {
                "to": "storage@example.com, lead@example.com",
                "from": "corral@example.com",
                "smarthost": f"127.0.0.1:{smtp.port}",
                "auth_username": "corral",
                "auth_password": "s3cret",
                "tls_config": {"ca_file": str(smtp.cert)},
                "headers": {"X-Team": "storage"},
            }
        ],
    )
    await publish(kafka, incident(labels={"alertname": "<b>DiskFull</b>", "team": "storage"}))
    try:
        async with running(notify_worker(kafka, config)):
            mail = await smtp.next()
    finally:
        smtp.stop()

    assert smtp.logins == ["corral"]
    assert smtp.mailbox.envelopes == [
        ("corral@example.com", ["storage@example.com", "lead@example.com"])
    ]
    assert mail["Subject"] == "[P3] <b>DiskFull</b>: /var is 97% full"
    assert mail["To"] == "storage@example.com, lead@example.com"
    assert mail["X-Team"] == "storage"
    assert mail["Message-ID"] == "<inc-1-1.mail.email/0@corral>"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "/var on db-1 is 97% full" in text
    assert "Priority:  P3" in text
    # What templates insert is escaped in HTML, and only there.
    assert "<h2>[P3] &lt;b&gt;DiskFull&lt;/b&gt;: /var is 97% full</h2>" in html
    assert "[P3] <b>DiskFull</b>: /var is 97% full" in text


async def test_routes_send_each_incident_to_its_receivers(kafka: KafkaSettings) -> None:
    pagerduty = await PagerDutyFake().start()
    storage = await RecordingServer().start()
    default = await RecordingServer().start()
    config = {
        "route": {
            "receiver": "default",
            "routes": [
                {"matchers": ['priority=~"P1|P2"'], "receiver": "pager", "continue": True},
                {"matchers": ['team="storage"'], "receiver": "storage"},
            ],
        },
        "receivers": [
            {"name": "default", "webhook_configs": [{"url": default.url()}]},
            {"name": "storage", "webhook_configs": [{"url": storage.url()}]},
            {"name": "pager", "pagerduty_configs": [{"routing_key": "k", "url": pagerduty.url()}]},
        ],
    }
    await publish(
        kafka,
        incident(id="disk", priority="P1"),
        incident(id="web", labels={"alertname": "HighLatency", "team": "web"}),
    )
    async with running(notify_worker(kafka, config)):
        assert (await pagerduty.next()).json()["dedup_key"] == "disk"
        assert (await storage.next()).json()["id"] == "disk"
        assert (await default.next()).json()["id"] == "web"
        assert await default.nothing_within(1.0)
    assert len(pagerduty.requests) == len(storage.requests) == len(default.requests) == 1
    for server in (pagerduty, storage, default):
        await server.stop()
