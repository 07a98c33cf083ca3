"""No second page when the notify worker is killed with SIGKILL mid-delivery,
and no lost or repeated update when it is killed while one is held.

The worker runs as the real ``corral notify`` process. The receiver takes the
notification and holds its answer; the test kills the worker before it can
record the outcome, restarts it, and counts pages as PagerDuty would. An
update held by ``group_interval`` survives a kill and goes out once, whole.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from services.corral.embedded import free_port
from services.notify.entry import SentLogEntry
from services.notify.sentlog import Entries, EntriesRestorer
from shared.config import KafkaSettings
from shared.kafka.state import StateStore
from shared.messages import IncidentAlert
from shared.service import wait_ready
from tests.helpers import RecordingServer
from tests.integration.notify_fakes import PagerDutyFake, incident, publish
from tests.integration.test_notify_delivery import write_config

pytestmark = pytest.mark.broker


async def start_worker(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.corral.cli", "notify", "--config", str(config),
        stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def stop_worker(worker: asyncio.subprocess.Process) -> None:
    """SIGTERM, if it still runs: it stops cleanly."""
    if worker.returncode is None:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 60) == 0


async def sent_entry(kafka: KafkaSettings, key: str) -> SentLogEntry | None:
    """The sent log entry ``key`` as a restarted worker restores it."""
    sent: StateStore[Entries] = StateStore(kafka, kafka.topics.notify_sent, EntriesRestorer)
    await sent.restore(set(range(kafka.partitions)))
    found = (entries.by_key.get(key) for entries in sent.partitions.values())
    return next((entry for entry in found if entry is not None), None)


def config_for(
    tmp_path: Path, kafka: KafkaSettings, port: int, receivers: Any, **route: Any
) -> Path:
    return write_config(
        tmp_path / "corral.yml",
        kafka,
        {
            "listen": f"127.0.0.1:{port}",
            "group_id": "notify-sigkill",
            "route": {"receiver": receivers[0]["name"], **route},
            "receivers": receivers,
            "retry": {"initial_backoff": "50ms", "max_backoff": "200ms", "max_elapsed": "10s"},
        },
    )


async def test_sigkill_between_send_and_record_pages_once(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    pagerduty = await PagerDutyFake(hold=True).start()
    port = free_port()
    config = config_for(
        tmp_path,
        kafka,
        port,
        [{"name": "pager", "pagerduty_configs": [{"routing_key": "k", "url": pagerduty.url()}]}],
    )
    await publish(kafka, incident(priority="P1", severity="critical"))
    worker = await start_worker(config)
    try:
        # PagerDuty took the trigger (and paged); its answer has not left yet.
        first = (await pagerduty.next(timeout=60)).json()
        assert pagerduty.pages == 1
        worker.send_signal(signal.SIGKILL)
        assert await worker.wait() == -signal.SIGKILL
        pagerduty.hold = False
        pagerduty.release.set()
        # What the killed worker left: an intent, no outcome.
        left = await sent_entry(kafka, "inc-1/pager/pagerduty/0")
        assert left is not None and (left.attempting, left.revision) == (1, 0)

        worker = await start_worker(config)
        await wait_ready(f"127.0.0.1:{port}")
        # The restarted worker cannot know whether PagerDuty got it, so it sends
        # again with the same dedup_key, which PagerDuty folds into the open incident.
        again = (await pagerduty.next(timeout=60)).json()
        assert again == first
        async with asyncio.timeout(20):
            while ((entry := await sent_entry(kafka, "inc-1/pager/pagerduty/0")) is None) or (
                entry.revision != 1
            ):
                await asyncio.sleep(0.2)
        assert entry.attempting == 0
        await publish(kafka, incident(2, "resolved"))
        resolve = (await pagerduty.next(timeout=30)).json()
        assert resolve["event_action"] == "resolve"
        assert await pagerduty.nothing_within(1.0)
    finally:
        await stop_worker(worker)
        await pagerduty.stop()
    assert pagerduty.pages == 1
    assert pagerduty.incidents == {"inc-1": "resolved"}


async def test_sigkill_after_the_outcome_was_recorded_sends_nothing_again(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    hook = await RecordingServer().start()
    port = free_port()
    config = config_for(
        tmp_path, kafka, port, [{"name": "hook", "webhook_configs": [{"url": hook.url()}]}]
    )
    await publish(kafka, incident())
    worker = await start_worker(config)
    try:
        await hook.next(timeout=60)
        async with asyncio.timeout(20):
            while ((entry := await sent_entry(kafka, "inc-1/hook/webhook/0")) is None) or (
                entry.revision != 1
            ):
                await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()

        worker = await start_worker(config)
        await wait_ready(f"127.0.0.1:{port}")
        assert await hook.nothing_within(2.0)
    finally:
        await stop_worker(worker)
        await hook.stop()
    assert len(hook.requests) == 1


async def test_sigkill_while_an_update_is_held_neither_loses_nor_repeats_it(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    hook = await RecordingServer().start()
    port = free_port()
    receivers = [{"name": "hook", "webhook_configs": [{"url": hook.url()}]}]
    config = config_for(tmp_path, kafka, port, receivers, group_interval="6s")
    first = incident(1)
    await publish(kafka, first)
    worker = await start_worker(config)
    try:
        assert (await hook.next(timeout=60)).json()["revision"] == 1
        sent_at = time.monotonic()
        joined = IncidentAlert(
            fingerprint="d0d0d0d0d0d0d0d0",
            status="firing",
            labels={"alertname": "DiskFull", "team": "storage", "instance": "db-2:9100"},
            annotations={},
        )
        await publish(kafka, incident(2, alerts=[*first.alerts, joined]), incident(3, priority="P4",
            alerts=[*first.alerts, joined]))  # fmt: skip
        # Both are held: the sent log has revision 3 waiting, revision 1 delivered.
        async with asyncio.timeout(20):
            while (entry := await sent_entry(kafka, "inc-1/hook/webhook/0")) is None or (
                entry.incident is None or entry.incident.revision != 3
            ):
                await asyncio.sleep(0.1)
        assert entry.revision == 1 and entry.due_at is not None
        worker.send_signal(signal.SIGKILL)
        assert await worker.wait() == -signal.SIGKILL

        worker = await start_worker(config)
        await wait_ready(f"127.0.0.1:{port}")
        update = await hook.next(timeout=30)
        waited = time.monotonic() - sent_at
        body = update.json()
        assert (body["revision"], body["changes"]["since_revision"]) == (3, 1)
        assert body["changes"]["summary"] == (
            "+1 alert: DiskFull (instance db-2:9100); now P4 (was P3)"
        )
        assert update.headers["Idempotency-Key"] == "inc-1-3"
        assert waited >= 5.5  # not before the interval, restart or not
        assert await hook.nothing_within(8.0)
    finally:
        await stop_worker(worker)
        await hook.stop()
    assert [r.json()["revision"] for r in hook.requests] == [1, 3]
