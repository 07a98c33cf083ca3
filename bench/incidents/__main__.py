"""How fast the incidents service shows what happens, and rebuilds a lost store.

    python -m bench.incidents [--incidents 2000] [--actions 200] [--store sqlite|postgresql://...]

Runs the embedded broker and one incidents worker in this process, then:

1. publishes ``--incidents`` incidents (two revisions and a delivery outcome
   each) and times until the store holds them all;
2. times a revision from the broker's acknowledgement to the change feed;
3. times ``--actions`` acknowledgements through the API, from the request to
   the answer that shows the incident acknowledged (broker round trip and
   store included);
4. stops the worker, deletes the store, starts a new one and times the
   rebuild from the topics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg

from services.corral.embedded import EmbeddedBroker
from services.incidents.config import IncidentsConfig
from services.incidents.worker import IncidentsWorker
from shared.config import KafkaSettings, TopicNames
from shared.kafka.clients import new_producer
from shared.kafka.publisher import Publisher, Record
from shared.kafka.topics import ensure_topics
from shared.logging import configure_logging
from shared.messages import DeliveryOutcome, Incident, IncidentAlert
from shared.service import bound_port, health_routes, start_http


def kafka_settings(bootstrap: str) -> KafkaSettings:
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"{default}.{suffix}" for name, default in TopicNames().model_dump().items()}
    return KafkaSettings.model_validate(
        {
            "bootstrap_servers": bootstrap,
            "topics": topics,
            "partitions": 6,
            "session_timeout": "3s",
            "heartbeat_interval": "500ms",
            "fetch_max_wait": "20ms",
        }
    )


def alert(name: str, n: int, status: str = "firing") -> IncidentAlert:
    return IncidentAlert(
        fingerprint=f"{name}-{n}",
        status=status,
        labels={
            "alertname": name,
            "cluster": f"c{n % 7}",
            "team": f"team-{n % 5}",
            "service": f"svc-{n % 11}",
        },
        annotations={"summary": f"{name} on host-{n}"},
    )


def revisions(n: int, now: datetime) -> list[Incident]:
    base = dict(
        id=f"bench-{n}",
        correlation_key=f"cluster=c{n % 7}",
        title=f"HighLatency: svc-{n % 11}",
        labels={"cluster": f"c{n % 7}", "team": f"team-{n % 5}"},
        severity="critical",
        priority=f"P{1 + n % 3}",
        opened_at=now,
    )
    first = Incident(
        revision=1,
        event="opened",
        status="firing",
        alerts=[alert("HighLatency", n)],
        explanation=["opened by HighLatency"],
        updated_at=now,
        **base,
    )
    second = Incident(
        revision=2,
        event="updated",
        status="firing",
        alerts=[alert("HighLatency", n), alert("ErrorRate", n)],
        explanation=["opened by HighLatency", "ErrorRate joined: same service"],
        updated_at=now + timedelta(seconds=1),
        **base,
    )
    return [first, second]


def outcome(n: int, now: datetime) -> DeliveryOutcome:
    return DeliveryOutcome(
        incident_id=f"bench-{n}",
        revision=1,
        receiver="oncall",
        integration="pagerduty/0",
        notification="trigger",
        status="sent",
        key=f"bench-{n}-1",
        at=now,
        escalation_step=1,
    )


@contextlib.asynccontextmanager
async def worker(
    kafka: KafkaSettings, store: str, data_dir: Path
) -> AsyncIterator[tuple[IncidentsWorker, str]]:
    config = IncidentsConfig.model_validate(
        {"kafka": kafka.model_dump(), "incidents": {"store": store, "data_dir": str(data_dir)}}
    )
    running = IncidentsWorker(config)
    app = running.app()
    app.add_routes(health_routes(running.ready))
    runner = await start_http(app, "127.0.0.1:0")
    stop = asyncio.Event()
    await running.start()
    task = asyncio.create_task(running.run(stop))
    try:
        while not running.ready():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        yield running, f"http://127.0.0.1:{bound_port(runner)}"
    finally:
        stop.set()
        await task
        await runner.cleanup()
        await running.close()


async def count(running: IncidentsWorker) -> int:
    [(n,)] = await running.store.db.fetch("SELECT count(*) FROM corral_incidents")
    return int(n)


async def events(running: IncidentsWorker) -> int:
    [(n,)] = await running.store.db.fetch("SELECT count(*) FROM corral_events")
    return int(n)


async def until_stored(running: IncidentsWorker, incidents: int, events_expected: int) -> float:
    started = time.perf_counter()
    while await count(running) < incidents or await events(running) < events_expected:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return (
        f"p50 {pick(0.5):.1f} ms, p90 {pick(0.9):.1f} ms, p99 {pick(0.99):.1f} ms, "
        f"mean {statistics.fmean(ordered) * 1000:.1f} ms (n={len(ordered)})"
    )


async def drop_store(store: str, data_dir: Path) -> None:
    if store == "sqlite":
        shutil.rmtree(data_dir, ignore_errors=True)
        return
    connection = await asyncpg.connect(store)
    await connection.execute(
        "DROP TABLE IF EXISTS corral_meta, corral_positions, corral_incidents, corral_events"
    )
    await connection.close()


async def run(args: argparse.Namespace) -> None:
    configure_logging("warning")
    broker = EmbeddedBroker()
    broker.start()
    data_dir = Path(tempfile.mkdtemp(prefix="corral-bench-incidents-"))
    try:
        await broker.wait_ready()
        kafka = kafka_settings(broker.bootstrap_servers)
        await ensure_topics(kafka)
        await drop_store(args.store, data_dir)
        producer = new_producer(kafka)
        await producer.start()
        publisher = Publisher(producer)
        now = datetime.now(UTC)
        n = args.incidents
        async with worker(kafka, args.store, data_dir) as (running, url):
            started = time.perf_counter()
            records: list[Record] = []
            for i in range(n):
                records += [Record(kafka.topics.incidents, r.id, r) for r in revisions(i, now)]
                records.append(Record(kafka.topics.notify_outcomes, f"bench-{i}", outcome(i, now)))
            await publisher.publish(records)
            published = time.perf_counter() - started
            await until_stored(running, n, 3 * n)
            took = time.perf_counter() - started
            print(
                f"{n} incidents, {3 * n} records: published in {published:.2f} s, "
                f"all in the store after {took:.2f} s ({3 * n / took:.0f} records/s)"
            )

            feed_samples = []
            with running.feed.subscribe() as changes:
                for i in range(args.actions):
                    item = revisions(n + i, now)[0]
                    await publisher.publish([Record(kafka.topics.incidents, item.id, item)])
                    acked = time.perf_counter()
                    while (await changes.get()).incident_id != item.id:
                        pass
                    feed_samples.append(time.perf_counter() - acked)
            print(
                f"revision acknowledged by the broker -> change feed: {percentiles(feed_samples)}"
            )

            action_samples = []
            async with aiohttp.ClientSession() as session:
                for i in range(args.actions):
                    started = time.perf_counter()
                    async with session.post(
                        f"{url}/api/v1/incidents/bench-{i}/ack", json={"actor": "bench"}
                    ) as response:
                        body = await response.json()
                    assert response.status == 200 and body["incident"]["state"] == "acknowledged", (
                        body
                    )
                    action_samples.append(time.perf_counter() - started)
            print(f"POST ack -> 200 with the store showing it: {percentiles(action_samples)}")
            total_incidents = await count(running)
            total_events = await events(running)
        await producer.stop()

        await drop_store(args.store, data_dir)
        started = time.perf_counter()
        async with worker(kafka, args.store, data_dir) as (running, _):
            await until_stored(running, total_incidents, total_events)
            took = time.perf_counter() - started
        print(
            f"rebuild of a deleted store ({args.store.split(':')[0]}): {total_incidents} "
            f"incidents, {total_events} events in {took:.2f} s, worker start included"
        )
    finally:
        broker.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--actions", type=int, default=200)
    parser.add_argument("--store", default="sqlite", help="sqlite or a postgresql:// URL")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
