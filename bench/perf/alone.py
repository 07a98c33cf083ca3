"""Each worker alone: what one ingest, triage or notify process sustains.

One shape's webhooks go to ingest alone (the other workers not started) for
the load's duration: ingest's rate. Then triage alone reads the alerts topic
ingest filled, and notify alone the revisions that triage wrote, each from a
standing backlog, timed until its last record is handled (notify: until the
last notification the receiver got). With more than one process, that many
triage (then notify) processes share the partitions in one consumer group,
on incidents, state and sent-log topics of their own; the clock starts once
all of them are ready (in the group), so that one process's head start
while the others join is not counted as the group's pace. The caller runs
it once per partition count (every topic of a run has that many).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.perf.stack import Receiver, cpu_seconds, scrape
from services.corral.config import CorralConfig, load
from services.corral.embedded import free_port
from shared.kafka.topics import ensure_topics
from shared.service import wait_ready

ROOT = Path(__file__).resolve().parents[2]

Processes = list[tuple[asyncio.subprocess.Process, str]]


async def spawn(config_path: Path, name: str, count: int) -> Processes:
    """``count`` processes of ``corral <name>``, each listening on a port of its
    own, ready; with the address of each."""
    processes: Processes = []
    for _ in range(count):
        listen = f"127.0.0.1:{free_port()}"
        env = {**os.environ, f"CORRAL_{name.upper()}__LISTEN": listen}
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "services.corral.cli", name, "--config", str(config_path)),
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
        )
        processes.append((process, listen))
    for _, listen in processes:
        await wait_ready(listen)
    return processes


async def stop(processes: Processes) -> None:
    for process, _ in processes:
        if process.returncode is None:
            process.terminate()
    for process, _ in processes:
        await process.wait()


async def _sum(processes: Processes, metric: str, topic: str | None = None) -> float:
    def where(labels: str) -> bool:
        return topic is None or f'topic="{topic}"' in labels

    return sum([await scrape(listen, metric, where) for _, listen in processes])


def _cpu(processes: Processes) -> float:
    return sum(cpu_seconds(process.pid) for process, _ in processes)


async def drain(
    processes: Processes,
    topic: str,
    total: float,
    last: Callable[[], float] | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """From now (``processes`` ready: in their group, their partitions'
    state restored) to the last of ``total`` records handled (or to
    ``last()``, for work that goes on after): the records handled since,
    with the CPU the processes used. A record counts as consumed once its
    batch's outputs are acknowledged, so those handled before the clock
    started (one process, while the others were still joining) are left out."""
    consumed = "corral_messages_consumed_total"
    async with asyncio.timeout(timeout):
        started, cpu = time.time(), _cpu(processes)
        before = await _sum(processes, consumed, topic)
        while (  # noqa: ASYNC110
            await _sum(processes, consumed, topic) < total
            or await _sum(processes, "corral_consumer_lag_messages") > 0
        ):
            await asyncio.sleep(0.1)
        finished = time.time()
        if last is not None:
            # Deliveries run after the consume loop: until none came for a second.
            while time.time() - last() < 1.0:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            finished = max(finished, last())
        cpu = _cpu(processes) - cpu
    records = total - before
    elapsed = finished - started
    # None when the backlog was handled before the processes were all ready:
    # too small to time.
    timed = records > 0
    return {
        "processes": len(processes),
        "records": records,
        "elapsed_s": elapsed,
        "records_per_s": records / elapsed if timed else None,
        "cpu_us_per_record": cpu / records * 1e6 if timed else None,
    }


def own_topics(config: CorralConfig, run: str) -> dict[str, Any]:
    """Config overrides for a run reading the same alerts as the others, writing
    incidents, state and sent log of its own, in groups of its own."""
    topics = config.kafka.topics
    return {
        "kafka": {
            "topics": topics.model_dump()
            | {
                "incidents": f"{topics.incidents}.{run}",
                "triage_state": f"{topics.triage_state}.{run}",
                "notify_sent": f"{topics.notify_sent}.{run}",
            }
        },
        "triage": {"group_id": f"{config.triage.group_id}-{run}"},
        "notify": {"group_id": f"{config.notify.group_id}-{run}"},
    }


async def measure(
    config_for: Callable[[str, dict[str, Any]], Path],
    receiver: Receiver,
    load: Callable[[str], Awaitable[dict[str, Any]]],
    process_counts: list[int],
) -> dict[str, Any]:
    """Ingest alone under ``load`` (given ingest's URL), then triage and notify
    alone with each count of processes. ``config_for(run, overrides)`` writes
    the config file of a run."""
    path = config_for("ingest", {})
    config = load_config(path)
    await ensure_topics(config.kafka)
    ingest = await spawn(path, "ingest", 1)
    try:
        before = _cpu(ingest)
        report = await load(f"http://{ingest[0][1]}/api/v1/alerts/alertmanager")
        ingest_cpu = _cpu(ingest) - before
    finally:
        await stop(ingest)
    alerts = report["alerts_accepted"]
    result: dict[str, Any] = {
        "alerts": alerts,
        "ingest": {
            "processes": 1,
            "records_per_s": report["accepted_per_s"],
            "cpu_us_per_record": ingest_cpu / alerts * 1e6,
        },
    }
    for count in process_counts:
        run_path = config_for(f"x{count}", own_topics(config, f"x{count}"))
        run = load_config(run_path)
        await ensure_topics(run.kafka)
        triage = await spawn(run_path, "triage", count)
        try:
            triaged = await drain(triage, run.kafka.topics.alerts, alerts)
            incidents = run.kafka.topics.incidents
            revisions = await _sum(triage, "corral_messages_published_total", incidents)
        finally:
            await stop(triage)
        triaged["alerts_per_s"] = triaged["records_per_s"]
        per_revision = alerts / revisions
        notify = await spawn(run_path, "notify", count)
        try:
            notified = await drain(notify, incidents, revisions, lambda: receiver.last_at)
        finally:
            await stop(notify)
        rate = notified["records_per_s"]
        notified["alerts_per_s"] = None if rate is None else rate * per_revision
        result[f"triage x{count}"] = triaged
        result[f"notify x{count}"] = notified
    return result


def load_config(path: Path) -> CorralConfig:
    return load(path, env={})
