"""One record that cannot be handled is quarantined; its partition and batch move on.

Before, only records that could not be decoded were skipped: any other
exception killed the worker, the batch came again, and every replica that
took the partition over died the same way; a record the broker refused was
retried forever.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.structs import RecordMetadata
from prometheus_client import REGISTRY

from services.notify import worker as notify_worker_module
from services.triage.correlate import CorrelateStage
from services.triage.stages import AlertEvent, TriageContext
from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from shared.messages import Alert, Incident
from shared.messages.quarantine import Quarantined
from tests.helpers import RecordingServer, read_topic, running, wait_ready
from tests.integration.notify_fakes import incident, notify_worker
from tests.integration.test_triage_durability import assert_consistent
from tests.integration.triage import expected, incidents_until, outcome, stream, worker
from tests.triage import alert

pytestmark = pytest.mark.broker


class Exploding:
    """A correlation step with a bug that only some alerts trigger."""

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        if "poison" in event.alert.labels:
            raise RuntimeError("a bug this alert triggers")
        return False


async def write(
    kafka: KafkaSettings, topic: str, values: list[tuple[str, bytes]]
) -> list[RecordMetadata]:
    producer = new_producer(kafka)
    await producer.start()
    try:
        return [
            await producer.send_and_wait(topic, value, key=key.encode()) for key, value in values
        ]
    finally:
        await producer.stop()


async def quarantined(kafka: KafkaSettings) -> list[Quarantined]:
    return [Quarantined.from_bytes(v) for v in await read_topic(kafka, kafka.topics.quarantine)]


def counted(worker: str, stage: str) -> float:
    labels = {"worker": worker, "stage": stage}
    return REGISTRY.get_sample_value("corral_records_quarantined_total", labels) or 0.0


async def test_triage_quarantines_the_alert_a_step_fails_on_and_the_rest_is_as_without_it(
    kafka: KafkaSettings,
) -> None:
    alerts = stream()
    want = await expected(alerts)
    poison = [
        alert({**a.labels, "poison": "yes"}, at=i, t0=a.received_at)
        for i, a in enumerate(alerts[5:40:10])
    ]
    mixed: list[Alert | bytes] = [*alerts]
    for n, bad in enumerate(poison):
        mixed.insert(6 + 11 * n, bad)
    mixed.insert(20, b"\x00 not an alert")
    triage = worker(kafka.model_copy(update={"max_batch": 9}))
    correlate = next(s for s in triage.chain.stages if isinstance(s, CorrelateStage))
    correlate.steps.insert(2, Exploding())
    before = counted("triage", "correlate"), counted("triage", "decode")

    async with running(triage):
        await wait_ready(triage)
        written = await write(
            kafka,
            kafka.topics.alerts,
            [
                (m.labels["cluster"], m.to_bytes()) if isinstance(m, Alert) else ("cluster-1", m)
                for m in mixed
            ],
        )
        found = await incidents_until(kafka, lambda found: outcome(found) == want, timeout=60)
        assert triage.ready()

    # The incidents are those of the stream without the poison: no alert
    # before a poisoned one in its batch was lost or applied twice.
    assert_consistent(found)
    positions = {(m.partition, m.offset): item for m, item in zip(written, mixed, strict=True)}
    entries = {(q.partition, q.offset): q for q in await quarantined(kafka)}
    poisoned = {p for p, item in positions.items() if isinstance(item, bytes) or item in poison}
    assert set(entries) == poisoned
    for position, entry in entries.items():
        item = positions[position]
        assert (entry.worker, entry.topic) == ("triage", kafka.topics.alerts)
        if isinstance(item, bytes):
            assert (entry.stage, entry.value) == ("decode", item)
        else:
            assert entry.stage == "correlate"
            assert entry.error == "RuntimeError: a bug this alert triggers"
            assert entry.value is not None and Alert.from_bytes(entry.value) == item
    assert counted("triage", "correlate") - before[0] == len(poison)
    assert counted("triage", "decode") - before[1] == 1


async def test_once_the_bug_is_fixed_a_replay_puts_the_quarantined_alerts_into_incidents(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    healthy = [
        alert(
            {"alertname": "KubePodNotReady", "cluster": "c1", "namespace": "shop", "pod": "a"},
            t0=t0,
        )
    ]
    poison = alert(
        {"alertname": "KubePodNotReady", "cluster": "c1", "namespace": "pay", "poison": "yes"},
        at=1,
        t0=t0,
    )

    def namespaces(found: list[Incident]) -> set[str]:
        return {a.labels.get("namespace", "") for i in found for a in i.alerts}

    buggy = worker(kafka)
    correlate = next(s for s in buggy.chain.stages if isinstance(s, CorrelateStage))
    correlate.steps.insert(2, Exploding())
    async with running(buggy):
        await wait_ready(buggy)
        await write(kafka, kafka.topics.alerts, [("c1", a.to_bytes()) for a in [poison, *healthy]])
        await incidents_until(kafka, lambda found: "shop" in namespaces(found))
    assert [q.stage for q in await quarantined(kafka)] == ["correlate"]

    config = tmp_path / "corral.yml"
    config.write_text(yaml.safe_dump({"kafka": kafka.model_dump(mode="json")}))

    async def run(*argv: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.corral.cli",
            "quarantine",
            *argv,
            "--config",
            str(config),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode()

    code, listed = await run("list", "--worker", "triage")
    assert code == 0 and "triage/correlate" in listed and "a bug this alert triggers" in listed
    code, said = await run("replay", "--dry-run")
    assert code == 0 and said.startswith("replay ")

    # The fixed worker takes over from the committed offsets: the poison
    # alert is behind them, and only the replay brings it back.
    fixed = worker(kafka)
    async with running(fixed):
        await wait_ready(fixed)
        await asyncio.sleep(1)
        assert "pay" not in namespaces(await incidents_until(kafka, lambda found: True))
        code, _ = await run("replay", "--worker", "triage")
        assert code == 0
        found = await incidents_until(kafka, lambda found: "pay" in namespaces(found))
    members = [a for i in found for a in i.alerts if a.labels.get("namespace") == "pay"]
    assert {a.fingerprint for a in members} == {poison.fingerprint}


async def test_an_incident_too_large_for_the_broker_is_quarantined_and_the_partition_moves_on(
    kafka: KafkaSettings,
) -> None:
    """Large incompressible annotations make one incident's revision (and its
    state record) bigger than max.message.bytes; before, the publisher retried
    it forever while the worker looked healthy."""
    limit = 64 * 1024
    settings = kafka.model_copy(update={"max_message_bytes": limit, "max_batch": 50})
    t0 = datetime.now(UTC) - timedelta(minutes=5)

    def big(pod: int) -> Alert:
        labels = {"alertname": "Huge", "cluster": "c1", "namespace": "big", "pod": f"p{pod}"}
        noise = os.urandom(12 * 1024).hex()  # hex of random bytes: no compressor helps much
        return alert(labels, at=pod, t0=t0).model_copy(update={"annotations": {"dump": noise}})

    small = [
        alert({"alertname": "Small", "cluster": "c1", "namespace": f"n{i}"}, at=10 + i, t0=t0)
        for i in range(3)
    ]

    def keys(found: list[Incident]) -> set[str]:
        return {i.correlation_key for i in found}

    triage = worker(settings)
    async with running(triage):
        await wait_ready(triage)
        batch = [big(i) for i in range(8)] + small[:2]
        await write(kafka, kafka.topics.alerts, [("c1", a.to_bytes()) for a in batch])
        await incidents_until(kafka, lambda found: {"namespace=n0", "namespace=n1"} <= keys(found))
        # Later alerts on the same partition are handled: it was not stuck.
        await write(kafka, kafka.topics.alerts, [("c1", small[2].to_bytes())])
        await incidents_until(kafka, lambda found: "namespace=n2" in keys(found))
        assert triage.ready()
    entries = [q for q in await quarantined(kafka) if q.stage == "publish"]
    revisions = [q for q in entries if q.output_topic == kafka.topics.incidents]
    assert revisions, entries
    for entry in revisions:
        # Cut to fit the quarantine topic under the same limit.
        assert entry.size > limit and entry.truncated and entry.value is not None
        assert len(entry.to_bytes()) < limit
        assert entry.value.startswith(b'{"schema_version":1,"id":"%s"' % entry.subject.encode())
        assert b"Huge" in entry.value
        assert (entry.worker, entry.topic) == ("triage", kafka.topics.alerts)
        assert "max_message_bytes" in entry.error


async def test_notify_quarantines_what_it_cannot_read_or_admit_and_delivers_the_rest(
    kafka: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = await RecordingServer().start()
    config: dict[str, Any] = {
        "route": {"receiver": "oncall", "group_wait": "0s"},
        "receivers": [{"name": "oncall", "webhook_configs": [{"url": hook.url()}]}],
    }
    notify = notify_worker(kafka, config)
    real = notify_worker_module.admissions

    def admissions(*args: Any) -> Any:
        revision: Incident = args[3]
        if revision.id == "inc-bad":
            raise KeyError("a routing bug")
        return real(*args)

    monkeypatch.setattr(notify_worker_module, "admissions", admissions)
    key = "inc-1"  # all three on one partition, the poison records first
    written = await write(
        kafka,
        kafka.topics.incidents,
        [
            (key, b"{not json"),
            (key, incident(id="inc-bad").to_bytes()),
            (key, incident(id="inc-1").to_bytes()),
        ],
    )
    async with running(notify):
        delivered = (await hook.next(timeout=30)).json()
        assert delivered["id"] == "inc-1"
        assert notify.ready()
    await hook.stop()
    entries = sorted(await quarantined(kafka), key=lambda q: q.offset or 0)
    assert [(q.worker, q.stage, q.partition, q.offset) for q in entries] == [
        ("notify", "decode", written[0].partition, written[0].offset),
        ("notify", "admit", written[1].partition, written[1].offset),
    ]
    assert entries[1].error == "KeyError: 'a routing bug'"
    assert entries[1].value is not None and Incident.from_bytes(entries[1].value).id == "inc-bad"


async def test_notify_quarantines_a_revision_whose_sent_log_record_the_broker_refuses(
    kafka: KafkaSettings,
) -> None:
    """The sent log entry holds the incident: one written to the incidents
    topic under a higher limit than notify's makes an entry too large to keep.
    Before, notify retried that write forever and its partition stood still."""
    hook = await RecordingServer().start()
    config: dict[str, Any] = {
        "route": {"receiver": "oncall", "group_wait": "0s"},
        "receivers": [{"name": "oncall", "webhook_configs": [{"url": hook.url()}]}],
    }
    limit = 64 * 1024
    notify = notify_worker(kafka.model_copy(update={"max_message_bytes": limit}), config)
    [member] = incident().alerts
    huge = member.model_copy(update={"annotations": {"dump": os.urandom(80 * 1024).hex()}})
    key = "inc-1"  # one partition: the large one first
    written = await write(
        kafka,
        kafka.topics.incidents,
        [
            (key, incident(id="inc-large", alerts=[huge]).to_bytes()),
            (key, incident(id="inc-1").to_bytes()),
        ],
    )
    async with running(notify):
        delivered = (await hook.next(timeout=30)).json()
        assert delivered["id"] == "inc-1"
        assert await hook.nothing_within(1.0)
        # Nothing of the refused revision stays behind to be delivered later.
        assert notify.sent.for_incident(written[0].partition, "inc-large") == []
    await hook.stop()
    [entry] = await quarantined(kafka)
    assert (entry.worker, entry.stage, entry.offset) == ("notify", "publish", written[0].offset)
    assert "over the limit of 65536" in entry.error
