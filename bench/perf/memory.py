"""Triage's resident memory per active alert, at 100,000 and 1,000,000 alerts in state.

Two layouts of the same distinct firing alerts (``LAYOUTS``): ``clusters``
spreads them over 8 clusters, so they join a few incidents and most are
counted past an incident's listed ``max_alerts``; ``incidents`` gives every
100 of them a rule, namespace and cluster of their own, as the ``incidents``
throughput shape does, so every alert is listed as a member of its incident.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime

from bench.perf.alerts import CATALOGUE
from shared.config import KafkaSettings
from shared.fingerprint import fingerprint
from shared.kafka.clients import new_producer

LAYOUTS = ("clusters", "incidents")
INCIDENT_SIZE = 100  # alerts per cluster in the ``incidents`` layout: triage.max_alerts


def alert_records(
    start: int, count: int, layout: str = "clusters", seed: int = 3
) -> list[tuple[bytes, bytes]]:
    """Distinct firing alerts as ingest would publish them (key, JSON value).

    Written as JSON directly: building a million pydantic models here would
    only measure the benchmark itself.
    """
    rng = random.Random(seed + start)
    received = datetime.now(UTC).isoformat()
    out = []
    for i in range(start, start + count):
        namespace = f"team-{rng.randrange(40)}"
        if layout == "clusters":
            name, severity, summary = CATALOGUE[i % len(CATALOGUE)]
            cluster = f"prod-{i % 8}"
        else:
            # One Alertmanager group per incident: its rule, cluster and namespace.
            group = i // INCIDENT_SIZE
            name, severity, summary = CATALOGUE[group % len(CATALOGUE)]
            cluster, namespace = f"storm-{group}", f"team-{group % 40}"
        labels = {
            "alertname": name,
            "severity": severity,
            "cluster": cluster,
            "namespace": namespace,
            "service": f"svc-{rng.randrange(400)}",
            "node": f"ip-10-{rng.randrange(255)}-{rng.randrange(255)}",
            "pod": f"pod-{i:x}",
            "job": "kube-state-metrics",
        }
        value = {
            "schema_version": 1,
            "fingerprint": fingerprint(labels),
            "status": "firing",
            "labels": labels,
            "annotations": {"summary": summary, "runbook_url": f"https://runbooks/{name}"},
            "starts_at": "2026-11-26T10:00:00Z",
            "generator_url": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
            "source": "alertmanager",
            "received_at": received,
        }
        out.append((cluster.encode(), json.dumps(value).encode()))
    return out


async def produce(
    settings: KafkaSettings, topic: str, start: int, count: int, layout: str = "clusters"
) -> None:
    producer = new_producer(settings)
    await producer.start()
    try:
        step = 50_000
        for offset in range(start, start + count, step):
            records = alert_records(offset, min(step, start + count - offset), layout)
            pending = [await producer.send(topic, value=v, key=k) for k, v in records]
            await asyncio.gather(*pending)
    finally:
        await producer.stop()
