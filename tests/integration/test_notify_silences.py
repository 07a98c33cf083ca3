"""Silences through notify's HTTP API and ``corral silence``, applied over the real broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.config import KafkaSettings
from shared.messages import Silence
from tests.helpers import read_topic, running, wait_ready
from tests.integration.notify_fakes import PagerDutyFake, incident, notify_worker, publish
from tests.integration.test_notify_delivery import corral, write_config

pytestmark = pytest.mark.broker


def pagerduty(url: str) -> dict[str, Any]:
    return {
        "route": {"receiver": "pager"},
        "receivers": [{"name": "pager", "pagerduty_configs": [{"routing_key": "k", "url": url}]}],
    }


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


async def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, json=body) as r:
        return r.status, await r.json()


def body(**fields: Any) -> dict[str, Any]:
    valid = {"matchers": ["team=db"], "endsAt": "2099-01-01T00:00:00Z"}
    return {**valid, "createdBy": "a", "comment": "c", **fields}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (body(matchers=[]), "matchers"),
        (body(matchers=['team=~"(']), "matchers"),
        (body(matchers=['team=~".*"']), "matchers"),
        (body(endsAt="2000-01-01T00:00:00Z"), "endsAt"),
        ({"matchers": ["team=db"], "endsAt": "2099-01-01T00:00:00Z", "comment": "c"}, "createdBy"),
        (body(matchers=[{"name": "team", "value": "db", "isRegx": True}]), "matchers[0].isRegx"),
    ],
)
async def test_invalid_silences_get_422_naming_the_field(
    kafka: KafkaSettings, body: dict[str, Any], field: str
) -> None:
    worker = notify_worker(kafka, {})
    async with running(worker, worker.app()) as port:
        status, answer = await call("POST", f"http://127.0.0.1:{port}/api/v1/silences", body)
    assert status == 422
    assert answer["field"] == field
    assert answer["error"].startswith(field)
    assert await read_topic(kafka, kafka.topics.silences) == []


async def test_silence_acknowledges_and_mutes_but_the_resolve_goes_out(
    kafka: KafkaSettings,
) -> None:
    fake = await PagerDutyFake().start()
    worker = notify_worker(kafka, pagerduty(fake.url()))
    async with running(worker, worker.app()) as port:
        api = f"http://127.0.0.1:{port}/api/v1/silences"
        await wait_ready(worker)
        # Paged for the disk, then someone silences it while they work on it.
        await publish(kafka, incident())
        assert (await fake.next()).json()["event_action"] == "trigger"
        status, answer = await call(
            "POST",
            api,
            {
                "matchers": [{"name": "team", "value": "storage", "isRegex": False}],
                "endsAt": in_an_hour(),
                "createdBy": "alice",
                "comment": "resizing /var",
            },
        )
        assert status == 200
        silence_id = answer["silenceID"]
        # Stored durably before the 200: it is on the topic.
        [stored] = [Silence.from_bytes(v) for v in await read_topic(kafka, kafka.topics.silences)]
        assert (stored.id, stored.matchers, stored.created_by) == (
            silence_id,
            ['team="storage"'],
            "alice",
        )
        status, listed = await call("GET", api)
        assert [(s["id"], s["status"]["state"]) for s in listed] == [(silence_id, "active")]
        # The paged incident is now covered: PagerDuty hears someone is on it.
        ack = (await fake.next()).json()
        assert ack == {"routing_key": "k", "dedup_key": "inc-1", "event_action": "acknowledge"}

        # An update and a new incident of the team are muted ...
        await publish(kafka, incident(2), incident(id="inc-2"))
        assert await fake.nothing_within(1.5)
        # ... the resolve still reaches PagerDuty, which had the trigger.
        await publish(kafka, incident(3, "resolved"))
        resolve = (await fake.next()).json()
        assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", "inc-1")
        assert await fake.nothing_within(0.5)

        # Expired early: the incident it held back goes out now.
        status, _ = await call("DELETE", f"{api}/{silence_id}")
        assert status == 200
        trigger = (await fake.next()).json()
        assert (trigger["event_action"], trigger["dedup_key"]) == ("trigger", "inc-2")
        status, listed = await call("GET", api)
        assert listed[0]["status"]["state"] == "expired"
    assert fake.incidents == {"inc-1": "resolved", "inc-2": "triggered"}
    await fake.stop()


async def test_silence_add_command_and_every_worker_knows_it(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    first = notify_worker(kafka, {})
    second = notify_worker(kafka, {"group_id": "another-group"})
    async with running(first, first.app()) as port, running(second, second.app()):
        config = write_config(tmp_path / "corral.yml", kafka, {"listen": f"127.0.0.1:{port}"})
        code, output = await corral(
            "silence", "add", "--config", str(config), "--comment", "maintenance",
            "--author", "bob", "--duration", "2h", 'alertname="DiskFull"', "cluster=~prod-.*",
        )  # fmt: skip
        assert code == 0, output
        silence_id = output.strip()
        async with asyncio.timeout(10):
            while second.silences.get(silence_id) is None:
                await asyncio.sleep(0.05)
        silence = second.silences.get(silence_id)
        assert silence is not None
        assert silence.matchers == ['alertname="DiskFull"', 'cluster=~"prod-.*"']
        assert silence.ends_at - silence.starts_at == timedelta(hours=2)

        code, output = await corral("silence", "query", "--config", str(config))
        assert code == 0 and silence_id in output and "maintenance" in output
        code, output = await corral("silence", "expire", "--config", str(config), silence_id)
        assert (code, output.strip()) == (0, f"expired {silence_id}")
        code, output = await corral("silence", "expire", "--config", str(config), "nope")
        assert code == 1 and "no silence with id 'nope'" in output
