"""Triage state through crashes and rebalances: nothing lost, nothing duplicated."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from services.corral.embedded import free_port
from shared.config import KafkaSettings
from shared.messages import Incident
from tests.helpers import running, wait_ready
from tests.integration.triage import (
    SETTINGS,
    expected,
    incidents,
    incidents_until,
    outcome,
    produce,
    stream,
    worker,
)

pytestmark = pytest.mark.broker


def assert_consistent(revisions: list[Incident]) -> None:
    """A revision written twice (a redelivery) is the same revision both times,
    so notify's dedup makes it one page; and an incident's numbers only go
    up, in the order written, by one, or by two after a restore."""
    seen: dict[tuple[str, int], Incident] = {}
    last: dict[str, int] = defaultdict(int)
    for incident in revisions:
        key = (incident.id, incident.revision)
        if key in seen:
            a, b = seen[key], incident
            assert (a.status, a.alerts) == (b.status, b.alerts), f"{key} written twice, differently"
            continue
        seen[key] = incident
        assert incident.revision > last[incident.id], f"{key} written after {last[incident.id]}"
        assert incident.revision - last[incident.id] <= 2, f"{key} after {last[incident.id]}"
        last[incident.id] = incident.revision


async def start_triage(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.corral.cli",
            "triage",
            "--config",
            str(config),
            stdout=out,
            stderr=out,
        )


async def test_kill_9_mid_stream_then_restart(kafka: KafkaSettings, tmp_path: Path) -> None:
    alerts = stream()
    want = await expected(alerts)
    config = tmp_path / "corral.yml"
    group = f"triage-{kafka.topics.alerts.rsplit('.', 1)[-1]}"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {**kafka.model_dump(mode="json"), "max_batch": 5},
                "triage": {**SETTINGS, "group_id": group, "listen": f"127.0.0.1:{free_port()}"},
            }
        )
    )
    log = tmp_path / "triage.log"
    first = await start_triage(config, log)
    third = len(alerts) // 3
    await produce(kafka, alerts[:third])
    await incidents_until(kafka, lambda found: len(found) >= 3, timeout=60)
    # Kill it while alerts keep arriving: no shutdown, no commit of the batch in hand.
    producing = asyncio.create_task(produce(kafka, alerts[third : 2 * third], gap=0.005))
    await asyncio.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    await producing
    before_restart = len(await incidents(kafka))

    second = await start_triage(config, log)
    try:
        await produce(kafka, alerts[2 * third :])
        found = await incidents_until(kafka, lambda found: outcome(found) == want, timeout=90)
    except TimeoutError:
        pytest.fail(f"incidents differ after restart; triage log:\n{log.read_text()[-3000:]}")
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
    assert len(found) > before_restart
    assert_consistent(found)


async def test_two_workers_share_partitions_and_agree_with_one(kafka: KafkaSettings) -> None:
    alerts = stream()
    want = await expected(alerts)
    a, b = worker(kafka), worker(kafka)
    async with running(a):
        await wait_ready(a)
        half = len(alerts) // 2
        await produce(kafka, alerts[:half])
        async with running(b):
            await wait_ready(b)
            # b joins mid-stream: a hands partitions over through the changelog.
            await produce(kafka, alerts[half:])
            found = await incidents_until(kafka, lambda found: outcome(found) == want, timeout=60)
            assert a.partitions and b.partitions
            assert not a.partitions.keys() & b.partitions.keys()
            assert all(state.alerts for state in [*a.partitions.values(), *b.partitions.values()])
    assert_consistent(found)
