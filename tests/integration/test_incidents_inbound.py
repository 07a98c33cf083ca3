"""Acknowledgements from PagerDuty (v3 webhooks) and Slack (interactivity), as
those services send them: their bodies, their headers, their signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from shared.config import KafkaSettings
from shared.interactivity import SLACK_ACKNOWLEDGE, SLACK_RESOLVE
from shared.messages import Action
from tests.helpers import RecordingServer, read_topic
from tests.incidents import alert, eventually, publish, revision
from tests.integration.test_incidents_api import Service, _with, incidents_service

pytestmark = pytest.mark.broker

PAGERDUTY_SECRET = "pd-secret-0123456789abcdef"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
async def replies() -> AsyncIterator[RecordingServer]:
    server = await RecordingServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def service(
    kafka: KafkaSettings, tmp_path: Path, replies: RecordingServer
) -> AsyncIterator[Service]:
    secret_file = tmp_path / "slack-signing-secret"
    secret_file.write_text(SLACK_SECRET + "\n")
    async with incidents_service(
        kafka,
        "sqlite",
        str(tmp_path),
        pagerduty={"webhook_secret": PAGERDUTY_SECRET},
        slack={"signing_secret_file": str(secret_file), "response_url_prefix": replies.url("/")},
    ) as running:
        await publish(kafka, kafka.topics.incidents, revision(1, [alert("DiskFull")], 0))
        await eventually(lambda: running.incident("inc-1"))
        yield running


def pagerduty_event(event_type: str, incident_key: str = "inc-1") -> bytes:
    """A v3 webhook body as PagerDuty sends it (an ``incident`` event's fields)."""
    return json.dumps(
        {
            "event": {
                "id": str(uuid.uuid4()),
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": "2026-11-26T10:04:00.123Z",
                "agent": {
                    "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                    "id": "PLH1HKV",
                    "self": "https://api.pagerduty.com/users/PLH1HKV",
                    "summary": "Tenex Engineer",
                    "type": "user_reference",
                },
                "client": None,
                "data": {
                    "id": "PGR0VU2",
                    "type": "incident",
                    "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                    "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                    "number": 2,
                    "status": event_type.removeprefix("incident."),
                    "incident_key": incident_key,
                    "created_at": "2026-11-26T10:00:03Z",
                    "title": "DiskFull: /var on db-1 is 97% full",
                    "service": {"id": "PF9KMXH", "summary": "Corral", "type": "service_reference"},
                    "assignees": [
                        {"id": "PTUXL6G", "summary": "User 123", "type": "user_reference"}
                    ],
                    "escalation_policy": {
                        "id": "PUS0KTE",
                        "summary": "Default",
                        "type": "escalation_policy_reference",
                    },
                    "teams": [],
                    "priority": None,
                    "urgency": "high",
                    "conference_bridge": None,
                    "resolve_reason": None,
                },
            }
        }
    ).encode()


def pagerduty_signature(body: bytes, *secrets: str) -> str:
    """``v1=<hex>`` per secret, comma-separated, as PagerDuty signs during a rotation."""
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


async def post_pagerduty(service: Service, body: bytes, signature: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "User-Agent": "PagerDuty-Webhook/V3.0"}
    if signature is not None:
        headers["X-PagerDuty-Signature"] = signature
    return await service.post("/api/v1/integrations/pagerduty", data=body, headers=headers)


async def test_pagerduty_acknowledgement_becomes_an_action(service: Service) -> None:
    body = pagerduty_event("incident.acknowledged")
    status, answer = await post_pagerduty(
        service, body, pagerduty_signature(body, "old-secret", PAGERDUTY_SECRET)
    )
    assert status == 200, answer
    shown = await eventually(
        lambda: _with(service, "inc-1", lambda i: i["state"] == "acknowledged")
    )
    assert shown["acknowledged_by"] == "Tenex Engineer"
    [record] = await read_topic(service.kafka, service.kafka.topics.actions)
    action = Action.from_bytes(record)
    assert (action.kind, action.source) == ("acknowledge", "pagerduty")
    assert abs(action.at.timestamp() - time.time()) < 60
    # PagerDuty retries a delivery it thinks failed: the same event changes nothing.
    assert (await post_pagerduty(service, body, pagerduty_signature(body, PAGERDUTY_SECRET)))[
        0
    ] == 200
    assert len(await read_topic(service.kafka, service.kafka.topics.actions)) == 1
    # Its echo of an acknowledgement Corral already has is taken and ignored.
    echo = pagerduty_event("incident.acknowledged")
    status, answer = await post_pagerduty(
        service, echo, pagerduty_signature(echo, PAGERDUTY_SECRET)
    )
    assert (status, answer["status"]) == (200, "ignored")

    resolved = pagerduty_event("incident.resolved")
    await post_pagerduty(service, resolved, pagerduty_signature(resolved, PAGERDUTY_SECRET))
    shown = await eventually(lambda: _with(service, "inc-1", lambda i: i["state"] == "resolved"))
    assert shown["resolved_by"] == "Tenex Engineer"


async def test_pagerduty_unacknowledged_resumes(service: Service) -> None:
    await service.post("/api/v1/incidents/inc-1/ack", {"actor": "alice"})
    body = pagerduty_event("incident.unacknowledged")
    await post_pagerduty(service, body, pagerduty_signature(body, PAGERDUTY_SECRET))
    await eventually(lambda: _with(service, "inc-1", lambda i: i["state"] == "firing"))


@pytest.mark.parametrize(
    ("signature", "status"),
    [(None, 400), ("v1=" + "0" * 64, 403), ("v0=whatever", 403)],
)
async def test_pagerduty_without_the_right_signature_is_refused(
    service: Service, signature: str | None, status: int
) -> None:
    got, _ = await post_pagerduty(service, pagerduty_event("incident.acknowledged"), signature)
    assert got == status
    assert not await read_topic(service.kafka, service.kafka.topics.actions)


async def test_pagerduty_events_corral_does_not_act_on_are_ignored(service: Service) -> None:
    for body in (
        pagerduty_event("incident.priority_updated"),
        pagerduty_event("incident.acknowledged", incident_key="not-corrals"),
    ):
        status, answer = await post_pagerduty(
            service, body, pagerduty_signature(body, PAGERDUTY_SECRET)
        )
        assert (status, answer["status"]) == (200, "ignored")
    assert not await read_topic(service.kafka, service.kafka.topics.actions)


def slack_click(action_id: str, incident_id: str, response_url: str) -> bytes:
    """A ``block_actions`` interaction, form-encoded as Slack posts it."""
    payload = {
        "type": "block_actions",
        "user": {"id": "U0CA5", "username": "amy", "name": "amy", "team_id": "T3MDE"},
        "api_app_id": "A0CA5",
        "token": "Shh_its_a_seekrit",
        "container": {
            "type": "message",
            "message_ts": "1548261231.000200",
            "channel_id": "C0CA5",
            "is_ephemeral": False,
        },
        "trigger_id": f"12345.98765.{uuid.uuid4().hex[:10]}",
        "team": {"id": "T3MDE", "domain": "acme"},
        "channel": {"id": "C0CA5", "name": "oncall"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "corral-actions",
                "text": {"type": "plain_text", "text": "Acknowledge", "emoji": True},
                "value": incident_id,
                "type": "button",
                "action_ts": "1548426417.840180",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def slack_headers(
    body: bytes, timestamp: int | None = None, secret: str = SLACK_SECRET
) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = (
        "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    )
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


async def post_slack(service: Service, body: bytes, headers: dict[str, str]) -> int:
    async with service.session.post(
        service.url + "/api/v1/integrations/slack/interactivity", data=body, headers=headers
    ) as response:
        return response.status


async def test_slack_buttons_acknowledge_and_resolve(
    service: Service, replies: RecordingServer
) -> None:
    body = slack_click(SLACK_ACKNOWLEDGE, "inc-1", replies.url("/actions/T0/1/x"))
    assert await post_slack(service, body, slack_headers(body)) == 200
    shown = await eventually(
        lambda: _with(service, "inc-1", lambda i: i["state"] == "acknowledged")
    )
    assert shown["acknowledged_by"] == "amy"
    # Slack retries a click it got no answer to: the same request is one action.
    assert await post_slack(service, body, slack_headers(body)) == 200
    [record] = await read_topic(service.kafka, service.kafka.topics.actions)
    assert Action.from_bytes(record).source == "slack"
    # A second person's click changes nothing; they are told why, privately.
    again = slack_click(SLACK_ACKNOWLEDGE, "inc-1", replies.url("/actions/T0/2/y"))
    assert await post_slack(service, again, slack_headers(again)) == 200
    reply = await replies.next(timeout=10)
    assert reply.path == "/actions/T0/2/y"
    assert reply.json() == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": "Incident inc-1: already acknowledged by amy",
    }
    resolve = slack_click(SLACK_RESOLVE, "inc-1", replies.url("/actions/T0/3/z"))
    assert await post_slack(service, resolve, slack_headers(resolve)) == 200
    shown = await eventually(lambda: _with(service, "inc-1", lambda i: i["state"] == "resolved"))
    assert shown["resolved_by"] == "amy"


@pytest.mark.parametrize(
    "tamper",
    ["stale", "future", "wrong secret", "body changed", "no signature"],
)
async def test_slack_requests_that_are_not_slacks_are_refused(
    service: Service, replies: RecordingServer, tamper: str
) -> None:
    body = slack_click(SLACK_ACKNOWLEDGE, "inc-1", replies.url("/r"))
    headers = slack_headers(body)
    if tamper == "stale":
        headers = slack_headers(body, int(time.time()) - 301)
    elif tamper == "future":
        headers = slack_headers(body, int(time.time()) + 301)
    elif tamper == "wrong secret":
        headers = slack_headers(body, secret="not-the-secret")
    elif tamper == "body changed":
        body = body.replace(b"amy", b"eve")
    else:
        del headers["X-Slack-Signature"]
    assert await post_slack(service, body, headers) == 401
    assert not await read_topic(service.kafka, service.kafka.topics.actions)


async def test_integrations_without_a_secret_are_off(kafka: KafkaSettings, tmp_path: Path) -> None:
    async with incidents_service(kafka, "sqlite", str(tmp_path)) as running:
        body = pagerduty_event("incident.acknowledged")
        status, answer = await post_pagerduty(running, body, pagerduty_signature(body, "x"))
        assert status == 404 and "webhook_secret" in answer["error"]
        assert await post_slack(running, b"payload=%7B%7D", slack_headers(b"payload=%7B%7D")) == 404
