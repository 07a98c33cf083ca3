"""``corral alerts export`` reads what ingest wrote, and ``corral replay`` of the
export reproduces the incidents the live triage worker made of it."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from services.corral.config import CorralConfig
from services.corral.export import export
from services.corral.replay import replay
from shared.config import KafkaSettings
from shared.history import read_history
from shared.kafka.clients import new_producer
from shared.messages import Feedback, FeedbackVerdict
from tests.helpers import running
from tests.integration.triage import (
    SETTINGS,
    expected,
    incidents_until,
    outcome,
    produce,
    stream,
    worker,
)


async def test_replay_of_the_export_makes_the_live_incidents(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    alerts = stream(clusters=3)
    want = await expected(alerts)
    await produce(kafka, alerts)
    async with running(worker(kafka)):
        live = await incidents_until(kafka, lambda found: outcome(found) == want)
    some_incident = live[0].id
    verdict = Feedback(
        incident_id=some_incident, verdict=FeedbackVerdict.NOISE, received_at=datetime.now(UTC)
    )
    producer = new_producer(kafka)
    await producer.start()
    try:
        await producer.send_and_wait(kafka.topics.feedback, verdict.to_bytes(), key=b"x")
    finally:
        await producer.stop()

    out = io.StringIO()
    counts = await export(kafka, out, None, with_feedback=True)
    assert counts == (len(alerts), 1)
    path = tmp_path / "alerts.jsonl"
    path.write_text(out.getvalue())
    history = read_history([path])
    assert sorted(a.to_bytes() for a in history.alerts) == sorted(a.to_bytes() for a in alerts)
    assert history.feedback == [verdict]

    config = CorralConfig.model_validate({"kafka": kafka.model_dump(), "triage": SETTINGS})
    run = await replay(config, history)
    assert outcome([incident for _, incident in run.revisions]) == outcome(live)


async def test_export_command_keeps_the_last_while(kafka: KafkaSettings, tmp_path: Path) -> None:
    alerts = stream(clusters=1)  # event times about half an hour back
    await produce(kafka, alerts)
    config = tmp_path / "corral.yml"
    config.write_text(yaml.safe_dump({"kafka": kafka.model_dump(mode="json")}))

    async def exported(*args: str) -> list[dict[str, object]]:
        out = tmp_path / "out.jsonl"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.corral.cli",
            "alerts",
            "export",
            "--config",
            str(config),
            "--out",
            str(out),
            *args,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        return [json.loads(line) for line in out.read_text().splitlines()]

    everything = await exported()
    assert len(everything) == len(alerts)
    times = [datetime.fromisoformat(str(line["received_at"])) for line in everything]
    assert times == sorted(times)
    assert await exported("--since", "10m") == []
    assert len(await exported("--since", "2h")) == len(alerts)
    assert min(times) > datetime.now(UTC) - timedelta(hours=2)
