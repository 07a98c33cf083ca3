"""Driving a triage worker over the real broker: alerts in as ingest writes
them, incidents read back from the topic, and the same stream's expected
incidents from the chain itself."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from services.triage.config import TriageConfig
from services.triage.worker import TriageWorker
from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from shared.messages import Alert, Incident
from tests.helpers import read_topic
from tests.triage import Triage, alert

NODE_RULE = {
    "name": "node down",
    "source_matchers": ['alertname="KubeNodeNotReady"'],
    "target_matchers": ['alertname="KubePodNotReady"'],
    "equal": ["cluster", "node"],
}
SETTINGS: dict[str, Any] = {
    "causes": {"rules": [NODE_RULE]},
    "lifecycle": {"quiet_period": "0s", "reopen_window": "10m"},
}


def worker(kafka: KafkaSettings, **settings: Any) -> TriageWorker:
    group = f"triage-{kafka.topics.alerts.rsplit('.', 1)[-1]}"
    config = {"group_id": group, **SETTINGS, **settings}
    return TriageWorker(
        TriageConfig.model_validate({"kafka": kafka.model_dump(), "triage": config})
    )


async def produce(kafka: KafkaSettings, alerts: list[Alert], gap: float = 0) -> None:
    """Write alerts to ``corral.alerts`` keyed by cluster, as ingest does."""
    producer = new_producer(kafka)
    await producer.start()
    try:
        for item in alerts:
            await producer.send_and_wait(
                kafka.topics.alerts, item.to_bytes(), key=item.labels.get("cluster", "").encode()
            )
            if gap:
                await asyncio.sleep(gap)
    finally:
        await producer.stop()


async def incidents(kafka: KafkaSettings) -> list[Incident]:
    return [Incident.from_bytes(v) for v in await read_topic(kafka, kafka.topics.incidents)]


async def incidents_until(
    kafka: KafkaSettings, done: Callable[[list[Incident]], bool], timeout: float = 30
) -> list[Incident]:
    """Poll the incidents topic until ``done`` holds for what is on it."""
    async with asyncio.timeout(timeout):
        while True:
            found = await incidents(kafka)
            if done(found):
                return found
            await asyncio.sleep(0.3)


def latest(revisions: list[Incident]) -> dict[str, Incident]:
    newest: dict[str, Incident] = {}
    for incident in revisions:
        if incident.id not in newest or incident.revision > newest[incident.id].revision:
            newest[incident.id] = incident
    return newest


def outcome(revisions: list[Incident]) -> dict[str, tuple[str, frozenset[str]]]:
    """Each live incident's status and members: what must not depend on how
    (or by how many workers, or across how many crashes) it was computed."""
    return {
        i.id: (i.status, frozenset(a.fingerprint for a in i.alerts))
        for i in latest(revisions).values()
        if i.merged_into is None
    }


def stream(clusters: int = 6, seed: int = 7) -> list[Alert]:
    """Node failures and crash-looping rollouts in several clusters, with
    Alertmanager's re-sends and some resolutions; event times a few minutes
    back, one second apart."""
    rng = random.Random(seed)
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    timeline: list[tuple[dict[str, str], str]] = []
    for c in range(clusters):
        cluster = f"cluster-{c}"
        node = {"alertname": "KubeNodeNotReady", "cluster": cluster, "node": f"n{c}"}
        pods = [
            {
                "alertname": "KubePodNotReady",
                "cluster": cluster,
                "namespace": f"ns{p % 3}",
                "pod": f"api-{p}",
                "node": f"n{c}",
            }
            for p in range(8)
        ]
        crashing = [
            {
                "alertname": "KubePodCrashLooping",
                "cluster": cluster,
                "namespace": "web",
                "pod": f"w{p}",
            }
            for p in range(5)
        ]
        fires = [*pods[:2], node, *pods[2:], *crashing]
        timeline += [(labels, "firing") for labels in fires]
        timeline += [(labels, "firing") for labels in rng.sample(fires, 6)]  # re-sends
        timeline += [(labels, "resolved") for labels in crashing]
    rng.shuffle(timeline)
    # Keep each alert's own order (fire before resolve) after the shuffle.
    timeline.sort(key=lambda item: item[1] == "resolved")
    return [alert(labels, status, at=i, t0=t0) for i, (labels, status) in enumerate(timeline)]


async def expected(alerts: list[Alert]) -> dict[str, tuple[str, frozenset[str]]]:
    triage = Triage(boundary=None, **SETTINGS)
    for item in alerts:
        await triage.send(item)
    return outcome(triage.revisions)
