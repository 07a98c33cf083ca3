"""``python -m bench.storm``: replay a storm through the real pipeline and score it.

Starts the embedded broker and ``corral ingest``, ``corral triage`` and one
``corral notify`` per notify setting compared (``notifications``) as
processes, posts the storm's Alertmanager webhooks to ingest on the storm's
own schedule (sped up ``--speed`` times, triage's windows and notify's
timings scaled to match), then reads ``corral.incidents`` and compares the
incidents with the truth, and counts what each notify worker sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.storm import notifications
from bench.storm.evaluate import evaluate
from bench.storm.generator import CLUSTERS, Storm, generate
from bench.storm.notifications import SETTINGS, Inbox, notify_section
from bench.storm.scenarios import TOPOLOGY
from services.corral.embedded import EmbeddedBroker, free_port
from shared.config import KafkaSettings
from shared.kafka.state import read_to_end
from shared.logging import configure_logging
from shared.messages import Incident
from shared.service import wait_ready

# Triage's settings for the storm, in storm time (seconds); divided by the speed.
WINDOWS = {
    "group_window": 300,
    "causes": 1800,
    "quiet_period": 120,
    "reopen_window": 900,
    "flapping_window": 900,
    "settle": 300,
}
NODE_DOWN_RULE = {
    "name": "node down",
    "source_matchers": ['alertname="KubeNodeNotReady"'],
    "target_matchers": ['alertname=~"KubeNodeUnreachable|TargetDown|KubePodNotReady"'],
    "equal": ["cluster", "node"],
}


def corral_config(bootstrap: str, ports: dict[str, int], speed: float) -> dict[str, Any]:
    return {
        "log": {"level": "warning"},
        "kafka": {
            "bootstrap_servers": bootstrap,
            "partitions": 3,
            "session_timeout": "3s",
            "heartbeat_interval": "500ms",
        },
        "ingest": {"listen": f"127.0.0.1:{ports['ingest']}"},
        "triage": {"listen": f"127.0.0.1:{ports['triage']}", **triage_settings(speed)},
    }


def triage_settings(speed: float = 1, hold: float = 0) -> dict[str, Any]:
    """Triage's settings for the storm, its windows (and ``hold``, in storm
    seconds) divided by the speed it is played at."""
    w = {name: seconds / speed for name, seconds in WINDOWS.items()}
    return {
        "group_window": w["group_window"],
        "scopes": [["namespace"], ["node"], ["alertname"]],
        "max_alerts": 1000,
        "causes": {"window": w["causes"], "rules": [NODE_DOWN_RULE], "hold": hold / speed},
        "topology": {"depends_on": TOPOLOGY},
        "flapping": {"changes": 4, "window": w["flapping_window"], "settle": w["settle"]},
        "lifecycle": {
            "quiet_period": w["quiet_period"],
            "reopen_window": w["reopen_window"],
            "retention": "1h",
        },
    }


def notify_config(
    config: dict[str, Any],
    worker: str,
    url: str,
    port: int,
    timing: tuple[float, float],
    speed: float,
) -> dict[str, Any]:
    """One notify worker of its own: consumer group, sent log and timings (storm
    seconds, scaled), sending to ``url/<receiver>``."""
    kafka = {
        **config["kafka"],
        "topics": {
            "notify_sent": f"corral.notify.sent.{worker}",
            "notify_outcomes": f"corral.notify.outcomes.{worker}",
        },
    }
    group_wait, group_interval = (seconds / speed for seconds in timing)
    section = notify_section(worker, f"{url}/{worker}", group_wait, group_interval)
    return {
        "log": config["log"],
        "kafka": kafka,
        "notify": {"listen": f"127.0.0.1:{port}", **section},
    }


@contextlib.asynccontextmanager
async def corral(workers: list[tuple[str, dict[str, Any], int]]) -> AsyncIterator[None]:
    """Each ``(command, config, port)`` as a ``corral`` process, until all are ready."""
    with tempfile.TemporaryDirectory() as folder:
        processes = []
        for i, (name, config, _) in enumerate(workers):
            path = Path(folder) / f"corral-{i}.yml"
            path.write_text(yaml.safe_dump(config))
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "services.corral.cli", name, "--config", str(path)
                )
            )
        try:
            for _, _, port in workers:
                await wait_ready(f"127.0.0.1:{port}")
            yield
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                await asyncio.wait_for(process.wait(), 30)


async def play(storm: Storm, url: str, speed: float) -> None:
    """Post each webhook at its storm time, sped up; storm times in the payload
    (startsAt, endsAt) become timestamps on the same clock."""
    began = time.monotonic()
    wall = datetime.now(UTC)

    def stamp(seconds: float | None) -> str:
        if seconds is None:
            return "0001-01-01T00:00:00Z"
        return (wall + timedelta(seconds=seconds / speed)).isoformat().replace("+00:00", "Z")

    async with aiohttp.ClientSession() as session:
        for delivery in storm.deliveries:
            await asyncio.sleep(max(0.0, began + delivery.at / speed - time.monotonic()))
            payload = {
                **delivery.payload,
                "alerts": [
                    {**a, "startsAt": stamp(a["startsAt"]), "endsAt": stamp(a["endsAt"])}
                    for a in delivery.payload["alerts"]
                ],
            }
            async with session.post(url, json=payload) as response:
                if response.status != 200:
                    answer = await response.text()
                    raise RuntimeError(f"ingest answered {response.status}: {answer}")


async def deduplicated(port: int) -> int | None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        for line in (await response.text()).splitlines():
            if line.startswith("corral_alerts_deduplicated_total "):
                return int(float(line.split()[1]))
    return None


async def read_incidents(kafka: KafkaSettings) -> list[Incident]:
    revisions: list[Incident] = []
    await read_to_end(
        kafka,
        kafka.topics.incidents,
        set(range(kafka.partitions)),
        lambda _partition, _key, value: revisions.append(Incident.from_bytes(value or b"")),
    )
    return revisions


async def run(seed: int, speed: float, clusters: int) -> None:
    storm = generate(seed, CLUSTERS[:clusters] + [f"prod-{n}" for n in range(clusters - 3)])
    print(
        f"storm: seed {seed}, {len(storm.deliveries)} webhooks over "
        f"{storm.duration / 60:.0f} storm minutes, played in {storm.duration / speed:.0f}s",
        flush=True,
    )
    broker = EmbeddedBroker()
    broker.start()
    inbox = Inbox()
    inbox_port = free_port()
    receivers = await inbox.start(inbox_port)
    try:
        await broker.wait_ready()
        ports = {"ingest": free_port(), "triage": free_port()}
        config = corral_config(broker.bootstrap_servers, ports, speed)
        kafka = KafkaSettings.model_validate(config["kafka"])
        url = f"http://127.0.0.1:{inbox_port}"
        workers = [(name, config, port) for name, port in ports.items()]
        for i, timing in enumerate(SETTINGS.values()):
            port = free_port()
            workers.append(
                ("notify", notify_config(config, f"n{i}", url, port, timing, speed), port)
            )
        async with corral(workers):
            started = time.monotonic()
            ingest = f"http://127.0.0.1:{ports['ingest']}/api/v1/alerts/alertmanager"
            await play(storm, ingest, speed)
            # Let the last quiet periods and settling run out, then the last
            # coalesced notifications.
            await asyncio.sleep((WINDOWS["quiet_period"] + WINDOWS["settle"]) / speed + 3)
            await inbox.quiet(max(SETTINGS.values())[1] / speed + 2)
            absorbed = await deduplicated(ports["triage"])
            elapsed = time.monotonic() - started
        revisions = await read_incidents(kafka)
        report = evaluate(storm, revisions, absorbed)
    finally:
        await receivers.cleanup()
        broker.stop()
    print(f"played and triaged in {elapsed:.1f}s")
    print("\n".join(report.lines()))
    print(f"\nnotifications, {report.true_incidents} true incidents (seed {seed}):\n")
    rows = [
        notifications.corral_row(
            name,
            f"n{i}",
            inbox,
            revisions,
            report.true_incidents,
            report.f1,
            report.compression,
            speed,
        )
        for i, name in enumerate(SETTINGS)
    ]
    rows.append(notifications.alertmanager_row(storm))
    print("\n".join(notifications.table(rows)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=60, help="storm seconds per real second")
    parser.add_argument("--clusters", type=int, default=3)
    args = parser.parse_args()
    configure_logging("warning")
    asyncio.run(run(args.seed, args.speed, args.clusters))


if __name__ == "__main__":
    main()
