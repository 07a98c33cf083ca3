"""The incident API behind the web security layer, as deploy/ ships it: reading
needs a user, acting needs the admin role and is recorded as that user; PagerDuty
and Slack come in on their signatures alone."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.incidents.worker import IncidentsWorker
from shared.config import KafkaSettings
from shared.messages import Action
from shared.web.guard import WebSecurity
from tests.helpers import read_topic, running, wait_ready
from tests.incidents import alert, eventually, incidents_config, publish, revision
from tests.integration.test_incidents_inbound import pagerduty_event, pagerduty_signature
from tests.integration.test_web_security import basic, write_web_config

pytestmark = pytest.mark.broker

SECRET = "pd-secret"


@pytest.fixture
async def api(kafka: KafkaSettings, tmp_path: Path) -> AsyncIterator[str]:
    security = WebSecurity.load(write_web_config(tmp_path))
    worker = IncidentsWorker(
        incidents_config(
            kafka, "sqlite", str(tmp_path), action_wait="15s",
            pagerduty={"webhook_secret": SECRET},
        )
    )  # fmt: skip
    async with running(worker, worker.app(security), security) as port:
        await wait_ready(worker)
        await publish(kafka, kafka.topics.incidents, revision(1, [alert("DiskFull")], 0))
        url = f"http://127.0.0.1:{port}"

        async def shown() -> bool:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{url}/api/v1/incidents/inc-1", headers=basic("oncall")) as response,
            ):
                return response.status == 200

        await eventually(shown)
        yield url


async def call(
    method: str, url: str, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, json=body) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_reading_needs_a_user_and_acting_the_admin_role(
    api: str, kafka: KafkaSettings
) -> None:
    incident = f"{api}/api/v1/incidents/inc-1"
    assert (await call("GET", incident))[0] == 401
    assert (await call("GET", incident, basic("oncall", "wrong")))[0] == 401
    assert (await call("GET", incident, basic("alertmanager")))[0] == 200
    status, answer = await call("POST", f"{incident}/ack", basic("alertmanager"), {})
    assert (status, answer["field"]) == (403, "Authorization")
    assert not await read_topic(kafka, kafka.topics.actions)
    # The authenticated user acts, whatever the body says.
    status, answer = await call("POST", f"{incident}/ack", basic("oncall"), {"actor": "mallory"})
    assert status == 200, answer
    assert answer["incident"]["acknowledged_by"] == "oncall"
    [record] = await read_topic(kafka, kafka.topics.actions)
    assert Action.from_bytes(record).actor == "oncall"
    status, document = await call("GET", f"{api}/api/openapi.json", basic("oncall"))
    assert status == 200
    assert "/api/v1/incidents/{id}/ack" in document["paths"]


async def test_pagerduty_needs_no_password_but_its_signature(api: str) -> None:
    body = pagerduty_event("incident.resolved")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{api}/api/v1/integrations/pagerduty",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-PagerDuty-Signature": pagerduty_signature(body, SECRET),
            },
        ) as response,
    ):
        assert response.status == 200, await response.text()
    # A Slack click is a form, which the guard lets through on that route only
    # (this worker has no Slack secret: the endpoint answers that it is off).
    form = b"payload=" + json.dumps({"type": "block_actions"}).encode()
    timestamp = str(int(time.time()))
    signature = (
        "v0=" + hmac.new(b"x", f"v0:{timestamp}:".encode() + form, hashlib.sha256).hexdigest()
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{api}/api/v1/integrations/slack/interactivity",
            data=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature,
            },
        ) as response,
    ):
        assert response.status == 404
        assert "signing_secret" in (await response.json())["error"]
    status, answer = await call(
        "POST", f"{api}/api/v1/incidents/inc-1/notes", basic("oncall"), None
    )
    assert (status, answer["field"]) == (415, "Content-Type")
