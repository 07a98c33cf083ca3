"""Triage over the real broker: dedup, flapping, cause → symptom, reopen."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.triage.metrics import ALERTS_DEDUPLICATED
from shared.config import KafkaSettings
from tests.helpers import running, wait_ready
from tests.integration.triage import incidents, incidents_until, latest, produce, worker
from tests.triage import alert

pytestmark = pytest.mark.broker

POD = {"alertname": "KubePodCrashLooping", "cluster": "prod", "namespace": "shop", "pod": "api-1"}
DISK = {"alertname": "NodeFilesystemAlmostOutOfSpace", "cluster": "prod", "node": "w1"}


def now() -> datetime:
    return datetime.now(UTC)


async def test_resends_are_absorbed(kafka: KafkaSettings) -> None:
    t0 = now()
    triage = worker(kafka)
    before = ALERTS_DEDUPLICATED._value.get()
    async with running(triage):
        await wait_ready(triage)
        await produce(kafka, [alert(POD, at=0, t0=t0), alert(DISK, at=1, t0=t0)])
        await incidents_until(kafka, lambda found: len(found) == 2)
        # Alertmanager's repeat_interval re-sends, then the resolve, re-sent too.
        await produce(kafka, [alert(POD, at=60, t0=t0), alert(POD, at=120, t0=t0)])
        await produce(kafka, [alert(POD, "resolved", at=130, t0=t0)])
        await incidents_until(kafka, lambda found: len(found) == 3)
        await produce(kafka, [alert(POD, "resolved", at=190, t0=t0)])
        await asyncio.sleep(1.5)  # anything else would show up by now
        found = await incidents(kafka)
    pod = [i for i in found if i.alerts[0].labels["alertname"] == POD["alertname"]]
    assert [(i.revision, i.event) for i in pod] == [(1, "opened"), (2, "resolved")]
    assert ALERTS_DEDUPLICATED._value.get() - before == 3


async def test_flapping_is_detected_and_then_quiet(kafka: KafkaSettings) -> None:
    # Event times ahead of the wall clock: no tick settles it during the test.
    t0 = now() + timedelta(minutes=5)
    probe = {"alertname": "BlackboxProbeFailed", "cluster": "prod", "instance": "https://x"}
    other = {**probe, "instance": "https://y"}
    triage = worker(kafka, flapping={"changes": 3, "window": "10m", "settle": "5m"})
    async with running(triage):
        await wait_ready(triage)
        flips = ["resolved", "firing"] * 4
        await produce(
            kafka,
            [alert(probe, t0=t0), alert(other, t0=t0)]
            + [alert(probe, status, at=10 * (i + 1), t0=t0) for i, status in enumerate(flips)],
        )
        found = await incidents_until(kafka, lambda found: any(i.flapping for i in found))
        await asyncio.sleep(1.5)
        found = await incidents(kafka)
    flagged = [i for i in found if i.flapping]
    assert len(flagged) == 1 and flagged[0] == found[-1], "flapping is news once, then quiet"
    assert any(
        "is flapping: 4 status changes within 10m" in line for line in flagged[0].explanation
    )
    assert len(found) <= 5  # opened, at most three ordinary changes, flapping


async def test_symptoms_join_their_cause(kafka: KafkaSettings) -> None:
    t0 = now()
    node = {"alertname": "KubeNodeNotReady", "cluster": "prod", "node": "w7"}

    def pod(name: str, namespace: str, node: str = "w7") -> dict[str, str]:
        return {
            **POD,
            "alertname": "KubePodNotReady",
            "pod": name,
            "namespace": namespace,
            "node": node,
        }

    triage = worker(kafka)
    async with running(triage):
        await wait_ready(triage)
        await produce(
            kafka,
            [
                alert(pod("api-1", "shop"), at=0, t0=t0),  # before its cause
                alert(node, at=5, t0=t0),
                alert(pod("auth-1", "auth"), at=10, t0=t0),
                alert(pod("db-1", "data", node="w3"), at=12, t0=t0),
            ],
        )

        def settled(found: list) -> bool:
            return sum(len(i.alerts) for i in latest(found).values() if not i.merged_into) == 4

        found = await incidents_until(kafka, settled)
    live = [i for i in latest(found).values() if not i.merged_into]
    [joined] = [i for i in live if len(i.alerts) == 3]
    root = next(a for a in joined.alerts if a.labels["alertname"] == "KubeNodeNotReady")
    assert joined.root_cause == root.fingerprint
    assert joined.title.startswith("KubeNodeNotReady")
    assert any("symptom of KubeNodeNotReady" in line for line in joined.explanation)


async def test_refire_within_the_reopen_window_reopens(kafka: KafkaSettings) -> None:
    t0 = now()
    triage = worker(kafka, lifecycle={"quiet_period": "0s", "reopen_window": "10m"})
    async with running(triage):
        await wait_ready(triage)
        await produce(kafka, [alert(DISK, at=0, t0=t0)])
        await incidents_until(kafka, lambda found: len(found) == 1)
        await produce(kafka, [alert(DISK, "resolved", at=30, t0=t0)])
        await incidents_until(kafka, lambda found: len(found) == 2)
        await produce(kafka, [alert(DISK, at=90, t0=t0)])
        found = await incidents_until(kafka, lambda found: len(found) == 3)
    assert {i.id for i in found} == {found[0].id}
    assert [i.event for i in found] == ["opened", "resolved", "reopened"]
    assert any("reopened: NodeFilesystemAlmostOutOfSpace" in line for line in found[2].explanation)
