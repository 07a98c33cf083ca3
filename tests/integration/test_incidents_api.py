"""``corral incidents`` against the real broker: the store fills from the topics,
the API answers, actions go out on ``corral.actions`` and come back into the store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from services.incidents.worker import IncidentsWorker
from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from shared.messages import Action
from shared.messages.quarantine import Quarantined
from shared.metrics import generate_latest
from tests.helpers import read_topic, running, wait_ready
from tests.incidents import (
    action,
    alert,
    eventually,
    incidents_config,
    outcome,
    publish,
    revision,
)
from tests.postgres import PostgresServer
from tests.postgres import database as postgres_database

pytestmark = pytest.mark.broker

DISK = alert("DiskFull", service="postgres")
IO = alert("HighIOWait", service="postgres")


@dataclass
class Service:
    kafka: KafkaSettings
    worker: IncidentsWorker
    url: str
    session: aiohttp.ClientSession

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.url + path) as response:
            return response.status, await response.json(content_type=None)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.post(self.url + path, json=body, **kwargs) as response:
            return response.status, await response.json(content_type=None)

    async def incident(self, incident_id: str) -> dict[str, Any] | None:
        status, body = await self.get(f"/api/v1/incidents/{incident_id}")
        return body if status == 200 else None


@contextlib.asynccontextmanager
async def incidents_service(
    kafka: KafkaSettings, store: str, data_dir: str, **settings: Any
) -> AsyncIterator[Service]:
    # A machine busy with other tests may take a while to show an action; the
    # tests check the 200 that comes once the store shows it.
    settings.setdefault("action_wait", "15s")
    worker = IncidentsWorker(incidents_config(kafka, store, data_dir, **settings))
    async with running(worker, worker.app()) as port, aiohttp.ClientSession() as session:
        await wait_ready(worker)
        yield Service(kafka, worker, f"http://127.0.0.1:{port}", session)


@pytest.fixture
async def service(kafka: KafkaSettings, tmp_path: Path) -> AsyncIterator[Service]:
    async with incidents_service(kafka, "sqlite", str(tmp_path), roles=["scribe"]) as running_:
        yield running_


async def opened(service: Service, incident_id: str = "inc-1") -> dict[str, Any]:
    await publish(
        service.kafka, service.kafka.topics.incidents, revision(1, [DISK], 0, id=incident_id)
    )
    return await eventually(lambda: service.incident(incident_id))


async def test_an_incident_revision_shows_in_the_api(service: Service) -> None:
    shown = await opened(service)
    assert (shown["state"], shown["priority"], shown["team"]) == ("firing", "P1", "storage")
    assert shown["members"][0]["labels"]["alertname"] == "DiskFull"
    status, listing = await service.get("/api/v1/incidents?status=open&team=storage")
    assert status == 200
    assert [i["id"] for i in listing["incidents"]] == ["inc-1"]
    assert (await service.get("/api/v1/incidents/nope"))[0] == 404


async def test_acknowledge_publishes_an_action_and_shows_it(service: Service) -> None:
    await opened(service)
    started = time.perf_counter()
    status, body = await service.post(
        "/api/v1/incidents/inc-1/ack", {"actor": "alice", "comment": "on it"}
    )
    elapsed = time.perf_counter() - started
    print(f"POST ack to the store showing it: {elapsed * 1000:.1f} ms")
    assert status == 200, body
    assert body["incident"]["state"] == "acknowledged"
    assert body["incident"]["acknowledged_by"] == "alice"
    [record] = await read_topic(service.kafka, service.kafka.topics.actions)
    sent = Action.from_bytes(record)
    assert (sent.kind, sent.actor, sent.source, sent.text) == (
        "acknowledge",
        "alice",
        "api",
        "on it",
    )
    status, conflict = await service.post("/api/v1/incidents/inc-1/ack", {"actor": "bob"})
    assert status == 409
    assert conflict["error"] == "already acknowledged by alice"
    assert conflict["state"] == "acknowledged"


async def test_a_retried_action_is_taken_once(service: Service) -> None:
    await opened(service)
    key = {"Idempotency-Key": "retry-1"}
    first = await service.post(
        "/api/v1/incidents/inc-1/notes", {"actor": "a", "text": "x"}, headers=key
    )
    again = await service.post(
        "/api/v1/incidents/inc-1/notes", {"actor": "a", "text": "x"}, headers=key
    )
    assert (first[0], first[1]["repeated"]) == (200, False)
    assert (again[0], again[1]["repeated"]) == (200, True)
    assert len(await read_topic(service.kafka, service.kafka.topics.actions)) == 1
    shown = await service.incident("inc-1")
    assert shown is not None and [n["text"] for n in shown["notes"]] == ["x"]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/v1/incidents/nope/ack", {"actor": "a"}, 404, "id"),
        ("/api/v1/incidents/inc-1/ack", {}, 422, "actor"),
        ("/api/v1/incidents/inc-1/ack", {"actor": "a", "colour": "red"}, 422, "colour"),
        (
            "/api/v1/incidents/inc-1/assign",
            {"actor": "a", "role": "chef", "person": "b"},
            422,
            "role",
        ),
        ("/api/v1/incidents/inc-1/assign", {"actor": "a", "person": "b"}, 422, "role"),
        ("/api/v1/incidents/inc-1/notes", {"actor": "a"}, 422, "text"),
        ("/api/v1/incidents/inc-1/snooze", {"actor": "a"}, 422, "(body)"),
        ("/api/v1/incidents/inc-1/snooze", {"actor": "a", "duration": "soon"}, 422, "duration"),
        ("/api/v1/incidents/inc-1/snooze", {"actor": "a", "duration": "30d"}, 422, "until"),
        ("/api/v1/incidents/inc-1/ack", {"actor": "a", "source": "slack"}, 422, "source"),
        ("/api/v1/incidents/inc-1/unack", {"actor": "a"}, 409, None),
        ("/api/v1/incidents/inc-1/reopen", {"actor": "a"}, 409, None),
    ],
)
async def test_bad_requests_name_the_field(
    service: Service, path: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    await opened(service)
    got, answer = await service.post(path, body)
    assert got == status, answer
    assert answer.get("field") == field
    assert not await read_topic(service.kafka, service.kafka.topics.actions)


async def test_a_body_that_is_not_json_is_refused(service: Service) -> None:
    await opened(service)
    status, answer = await service.post(
        "/api/v1/incidents/inc-1/ack",
        data="actor=alice",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, answer["field"]) == (415, "Content-Type")
    status, answer = await service.post(
        "/api/v1/incidents/inc-1/ack", data="{", headers={"Content-Type": "application/json"}
    )
    assert status == 400


async def test_a_whole_response_through_the_api(service: Service) -> None:
    await opened(service)
    steps = [
        ("assign", {"role": "incident_commander", "person": "alice"}, "firing"),
        ("assign", {"role": "scribe", "person": "erin"}, "firing"),
        ("snooze", {"duration": "1h"}, "acknowledged"),
        ("ack", {}, "acknowledged"),
        ("unack", {}, "firing"),
        ("escalate", {"comment": "need the DBAs"}, "firing"),
        ("resolve", {}, "resolved"),
        ("reopen", {}, "firing"),
        ("resolve", {"comment": "volume grown"}, "resolved"),
    ]
    for path, body, state in steps:
        status, answer = await service.post(
            f"/api/v1/incidents/inc-1/{path}", {"actor": "alice", **body}
        )
        assert status == 200, (path, answer)
        assert answer["incident"]["state"] == state, path
    await publish(
        service.kafka, service.kafka.topics.notify_outcomes, outcome(5, "oncall", escalation_step=1)
    )
    shown = await eventually(
        lambda: _with(
            service, "inc-1", lambda i: any(e["type"] == "escalation" for e in i["timeline"])
        )
    )
    assert shown["roles"] == {"incident_commander": "alice", "scribe": "erin"}
    assert shown["resolved_by"] == "alice"
    texts = [e["text"] for e in shown["timeline"] if e["type"] == "action"]
    assert texts[-1] == "resolved by alice via api: volume grown"
    assert "escalated by alice via api: need the DBAs" in texts


async def _with(service: Service, incident_id: str, check: Any) -> dict[str, Any] | None:
    shown = await service.incident(incident_id)
    return shown if shown is not None and check(shown) else None


async def test_an_unreadable_record_is_quarantined_and_the_partition_moves_on(
    service: Service,
) -> None:
    await opened(service)
    producer_topic = service.kafka.topics.actions
    producer = new_producer(service.kafka)
    await producer.start()
    try:
        await (await producer.send(producer_topic, b"{not json", key=b"inc-1"))
        await (await producer.send(producer_topic, b'{"schema_version": 9}', key=b"inc-1"))
    finally:
        await producer.stop()
    await publish(service.kafka, producer_topic, action("acknowledge", 10, "bob"))
    shown = await eventually(
        lambda: _with(service, "inc-1", lambda i: i["state"] == "acknowledged")
    )
    assert shown["acknowledged_by"] == "bob"
    quarantined = [
        Quarantined.from_bytes(value)
        for value in await read_topic(service.kafka, service.kafka.topics.quarantine)
    ]
    assert [(q.worker, q.stage, q.topic, q.offset) for q in quarantined] == [
        ("incidents", "decode", producer_topic, 0),
        ("incidents", "decode", producer_topic, 1),
    ]
    assert "newer than this worker understands" in quarantined[1].error


async def test_the_change_feed_tells_what_changed(service: Service) -> None:
    with service.worker.feed.subscribe() as changes:
        await opened(service)
        change = await asyncio.wait_for(changes.get(), 10)
        assert (change.incident_id, change.kinds, change.state) == ("inc-1", {"revision"}, "firing")
        await service.post("/api/v1/incidents/inc-1/ack", {"actor": "alice"})
        change = await asyncio.wait_for(changes.get(), 10)
        assert change.kinds == {"action"} and change.state == "acknowledged"


async def test_response_times_are_exported(service: Service) -> None:
    await opened(service)
    await service.post("/api/v1/incidents/inc-1/ack", {"actor": "alice"})
    await service.post("/api/v1/incidents/inc-1/resolve", {"actor": "alice"})
    await asyncio.sleep(1.2)  # one tick of the open-incident gauge
    metrics = generate_latest()[0].decode()
    assert (
        'corral_incident_time_to_acknowledge_seconds_count{priority="P1",team="storage"}' in metrics
    )
    assert 'corral_incident_time_to_resolve_seconds_count{priority="P1",team="storage"}' in metrics


def cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "services.corral.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_the_cli_acts_through_the_api(service: Service) -> None:
    await opened(service)
    url = ["--url", service.url]
    run = asyncio.to_thread
    assert "acknowledge done; now acknowledged" in await run(
        cli, "incident", "ack", "inc-1", "--actor", "alice", *url
    )
    await run(cli, "incident", "assign", "inc-1", "incident_commander", "alice", *url)
    await run(cli, "incident", "note", "inc-1", "grew", "the", "volume", *url)
    listing = await run(cli, "incident", "list", "--status", "open", *url)
    assert "inc-1" in listing and "acknowledged" in listing and "alice" in listing
    shown = await run(cli, "incident", "show", "inc-1", *url)
    assert "incident commander: alice" in shown
    assert "note by" in shown and "grew the volume" in shown
    await run(cli, "incident", "resolve", "inc-1", *url)
    review = await run(cli, "review", "inc-1", *url)
    assert review.startswith("# Post-incident review: DiskFull")


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_a_deleted_store_is_rebuilt_from_the_topics(
    kafka: KafkaSettings, tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    database = contextlib.nullcontext("sqlite")
    if store == "postgresql":
        database = postgres_database(request.getfixturevalue("postgres"))  # type: ignore[assignment]
    async with database as url:
        await _rebuild(kafka, tmp_path, url)


async def _rebuild(kafka: KafkaSettings, tmp_path: Path, store: str) -> None:
    data_dir = tmp_path / "data"
    count = 20
    async with incidents_service(kafka, store, str(data_dir)) as live:
        await publish(
            kafka,
            kafka.topics.incidents,
            *(revision(1, [DISK], n, id=f"inc-{n}") for n in range(count)),
        )
        await publish(
            kafka,
            kafka.topics.incidents,
            *(revision(2, [DISK, IO], 100 + n, id=f"inc-{n}") for n in range(0, count, 2)),
        )
        for n in range(count):
            expected = 2 if n % 2 == 0 else 1
            await eventually(
                lambda n=n, r=expected: _with(live, f"inc-{n}", lambda i: i["revision"] == r)
            )
        for n in range(0, count, 3):
            status, _ = await live.post(f"/api/v1/incidents/inc-{n}/ack", {"actor": "alice"})
            if status == 202:  # taken, not shown yet: wait for the store to show it
                await eventually(
                    lambda n=n: _with(live, f"inc-{n}", lambda i: i["state"] == "acknowledged")
                )
        await live.post("/api/v1/incidents/inc-1/notes", {"actor": "bob", "text": "look"})
        await publish(kafka, kafka.topics.notify_outcomes, outcome(3, id="inc-1"))
        await eventually(lambda: _with(live, "inc-1", lambda i: len(i["timeline"]) >= 5))
        before = {n: await live.incident(f"inc-{n}") for n in range(count)}
        first_id = live.worker.store.store_id
    # The store goes away: the SQLite file deleted, the PostgreSQL tables dropped.
    if store == "sqlite":
        shutil.rmtree(data_dir)
    else:
        connection = await asyncpg.connect(store)
        await connection.execute(
            "DROP TABLE corral_meta, corral_positions, corral_incidents, corral_events"
        )
        await connection.close()
    started = time.perf_counter()
    async with incidents_service(kafka, store, str(data_dir)) as rebuilt:
        assert rebuilt.worker.store.store_id != first_id

        async def same() -> bool:
            return all([await rebuilt.incident(f"inc-{n}") == before[n] for n in range(count)])

        with contextlib.suppress(TimeoutError):
            await eventually(same, timeout=60)
        print(
            f"rebuilt {count} incidents ({store.split(':')[0]}) in "
            f"{time.perf_counter() - started:.2f} s"
        )
        after = {n: await rebuilt.incident(f"inc-{n}") for n in range(count)}
    for n in range(count):
        assert after[n] == before[n], n


async def test_workers_sharing_a_postgresql_store_split_the_work_and_see_it_all(
    kafka: KafkaSettings, tmp_path: Path, postgres: PostgresServer
) -> None:
    """Scaling out: one consumer group between them, every change heard by both."""
    async with (
        postgres_database(postgres) as url,
        incidents_service(kafka, url, str(tmp_path / "a")) as first,
        incidents_service(kafka, url, str(tmp_path / "b")) as second,
    ):
        assert first.worker.store.store_id == second.worker.store.store_id

        async def split() -> bool:
            assert first.worker.loop and second.worker.loop
            mine = first.worker.loop.consumer.assignment()  # type: ignore[union-attr]
            theirs = second.worker.loop.consumer.assignment()  # type: ignore[union-attr]
            return bool(mine) and bool(theirs) and not mine & theirs

        await eventually(split)
        count = 12
        await publish(
            kafka,
            kafka.topics.incidents,
            *(revision(1, [DISK], n, id=f"inc-{n}") for n in range(count)),
        )
        for service in (first, second):

            async def listed(service: Service = service) -> bool:
                _, body = await service.get("/api/v1/incidents?limit=100")
                return len(body["incidents"]) == count

            await eventually(listed)
        # An action through either worker shows at once, whichever one applied it.
        for n in range(count):
            status, body = await first.post(f"/api/v1/incidents/inc-{n}/ack", {"actor": "alice"})
            assert status == 200, body
            assert body["incident"]["state"] == "acknowledged"
