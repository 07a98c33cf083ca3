"""Delivery over the real broker: retries, Retry-After, dead letters and their
replay, per-receiver limits, group_wait and repeat_interval."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from services.notify.entry import EntryKey
from shared.config import KafkaSettings
from shared.messages import DeadLetter
from tests.helpers import RecordingServer, read_topic, running
from tests.integration.notify_fakes import HeldServer, incident, notify_worker, publish

pytestmark = pytest.mark.broker


def webhook_receiver(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "route": {"receiver": name},
        "receivers": [{"name": name, "webhook_configs": [{"url": url}]}],
        **extra,
    }


async def dead_letters(kafka: KafkaSettings) -> list[DeadLetter]:
    return [DeadLetter.from_bytes(v) for v in await read_topic(kafka, kafka.topics.dead_letters)]


def dead_letter_count(receiver: str) -> float:
    return REGISTRY.get_sample_value("corral_dead_letters_total", {"receiver": receiver}) or 0.0


async def test_500_is_retried_until_taken(kafka: KafkaSettings) -> None:
    hook = await RecordingServer(responses=[(500, {}), (502, {})]).start()
    await publish(kafka, incident())
    async with running(notify_worker(kafka, webhook_receiver("retry-500", hook.url()))):
        for _ in range(3):
            await hook.next()
        assert await hook.nothing_within(1.0)
    assert {r.headers["Idempotency-Key"] for r in hook.requests} == {"inc-1-1"}
    assert await dead_letters(kafka) == []
    await hook.stop()


async def test_429_waits_for_retry_after(kafka: KafkaSettings) -> None:
    hook = await RecordingServer(responses=[(429, {"Retry-After": "1"})]).start()
    await publish(kafka, incident())
    async with running(notify_worker(kafka, webhook_receiver("retry-429", hook.url()))):
        await hook.next()
        limited = time.monotonic()
        await hook.next()
        waited = time.monotonic() - limited
    # The configured backoff is 50-200 ms; only Retry-After explains a second.
    assert waited >= 0.95
    assert len(hook.requests) == 2
    await hook.stop()


async def test_400_is_not_retried_and_is_dead_lettered(kafka: KafkaSettings) -> None:
    hook = await RecordingServer(responses=[(400, {})]).start()
    await publish(kafka, incident())
    async with running(notify_worker(kafka, webhook_receiver("bad-request", hook.url()))):
        await hook.next()
        assert await hook.nothing_within(1.0)
    assert len(hook.requests) == 1
    [letter] = await dead_letters(kafka)
    assert (letter.receiver, letter.integration, letter.attempts) == ("bad-request", "webhook/0", 1)
    assert letter.reason.startswith("HTTP 400")
    assert not letter.retryable
    assert dead_letter_count("bad-request") == 1
    await hook.stop()


def write_config(path: Path, kafka: KafkaSettings, notify: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"kafka": kafka.model_dump(mode="json"), "notify": notify}))
    return path


async def corral(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.corral.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


async def test_dead_letter_after_the_budget_then_replay_once(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    hook = await RecordingServer(responses=[(503, {})] * 100).start()
    notify = webhook_receiver(
        "flaky",
        hook.url(),
        retry={"initial_backoff": "50ms", "max_backoff": "100ms", "max_elapsed": "700ms"},
    )
    worker = notify_worker(kafka, notify)
    await publish(kafka, incident())
    async with running(worker):
        async with asyncio.timeout(20):
            while not await dead_letters(kafka):
                await asyncio.sleep(0.2)
        [letter] = await dead_letters(kafka)
        assert letter.incident.id == "inc-1" and letter.incident.revision == 1
        assert letter.reason.startswith("HTTP 503")
        assert letter.retryable and letter.attempts >= 3
        assert letter.first_attempt_at < letter.last_attempt_at
        assert dead_letter_count("flaky") == 1

        # The service is back; a replay sends the dead letter through the worker.
        hook.responses.clear()
        while not hook.arrived.empty():
            hook.arrived.get_nowait()
        attempts = len(hook.requests)
        config = write_config(tmp_path / "corral.yml", kafka, {**notify, "group_id": "unused"})
        code, output = await corral("dlq", "replay", "--config", str(config))
        assert code == 0, output
        assert "replay inc-1 revision 1 to flaky/webhook/0" in output
        assert "replayed 1, skipped 0 of 1 dead letters" in output
        replayed = await hook.next()
        assert replayed.headers["Idempotency-Key"] == "inc-1-1"
        assert len(hook.requests) == attempts + 1

        # Delivered now: a second replay knows from the sent log and sends nothing.
        async with asyncio.timeout(10):
            key = EntryKey(letter.partition, "inc-1/flaky/webhook/0")
            while (entry := worker.sent.get(key)) is None or entry.revision != 1:
                await asyncio.sleep(0.05)
        code, output = await corral("dlq", "replay", "--config", str(config))
        assert code == 0, output
        assert "skip   inc-1 revision 1 to flaky/webhook/0: delivered meanwhile" in output
        assert await hook.nothing_within(1.0)
    await hook.stop()


async def test_a_slow_receiver_holds_up_nobody_else(kafka: KafkaSettings) -> None:
    slow = await HeldServer(hold=True).start()
    fast = await RecordingServer().start()
    notify = {
        "route": {
            "receiver": "fast",
            "routes": [{"receiver": "slow", "continue": True}, {"receiver": "fast"}],
        },
        "receivers": [
            {
                "name": "slow",
                "webhook_configs": [{"url": slow.url()}],
                "limits": {"concurrency": 1},
            },
            {"name": "fast", "webhook_configs": [{"url": fast.url()}]},
        ],
    }
    await publish(kafka, incident(id="first"))
    async with running(notify_worker(kafka, notify)):
        assert (await slow.next()).json()["id"] == "first"
        assert (await fast.next()).json()["id"] == "first"
        await publish(kafka, incident(id="second"))
        # The fast receiver gets the next incident while the slow one still holds
        # the first; the slow one, limited to one at a time, waits for its turn.
        assert (await fast.next()).json()["id"] == "second"
        assert await slow.nothing_within(0.5)
        slow.release.set()
        assert (await slow.next()).json()["id"] == "second"
    await slow.stop()
    await fast.stop()


async def test_group_wait_sends_the_state_after_the_wait(kafka: KafkaSettings) -> None:
    hook = await RecordingServer().start()
    notify = webhook_receiver("waiting", hook.url())
    # Revision 2 comes 0.3 s after revision 1, well before the wait ends
    # (2 s after it, the incident having opened a second before): on a busy
    # machine a shorter wait raced it.
    notify["route"]["group_wait"] = "3s"
    async with running(notify_worker(kafka, notify)):
        opened = incident()
        await publish(kafka, opened)
        await asyncio.sleep(0.3)
        grown = incident(2, opened_at=opened.opened_at)
        await publish(kafka, grown)
        first = (await hook.next()).json()
        assert await hook.nothing_within(1.0)
    assert first["revision"] == 2
    await hook.stop()


async def test_repeat_interval_resends_until_resolved(kafka: KafkaSettings) -> None:
    hook = await RecordingServer().start()
    notify = webhook_receiver("repeating", hook.url())
    notify["route"]["repeat_interval"] = "1s"
    await publish(kafka, incident())
    async with running(notify_worker(kafka, notify)):
        first = await hook.next()
        repeat = await hook.next()
        await publish(kafka, incident(2, "resolved"))
        while (resolved := (await hook.next()).json())["status"] != "resolved":
            pass
        assert await hook.nothing_within(1.5)
    assert first.json()["repeat"] is False
    assert repeat.json()["repeat"] is True
    assert repeat.json()["revision"] == 1
    assert repeat.headers["Idempotency-Key"].startswith("inc-1-1-repeat-")
    assert resolved["revision"] == 2
    await hook.stop()


async def test_work_for_a_receiver_removed_from_the_config_is_dead_lettered(
    kafka: KafkaSettings,
) -> None:
    hook = await RecordingServer().start()
    waiting = webhook_receiver("leaving", hook.url())
    waiting["route"]["group_wait"] = "10m"  # admitted, not yet due
    await publish(kafka, incident(opened_at=datetime.now(UTC)))
    worker = notify_worker(kafka, waiting)
    async with running(worker):
        key = EntryKey(0, "inc-1/leaving/webhook/0")
        async with asyncio.timeout(10):
            while not any(k.key == key.key for k, _ in worker.sent.entries()):
                await asyncio.sleep(0.05)
    # Restarted with the receiver gone from the config: its pending page is
    # dead-lettered, not dropped.
    async with running(notify_worker(kafka, {})):
        async with asyncio.timeout(20):
            while not (letters := await dead_letters(kafka)):
                await asyncio.sleep(0.2)
    [letter] = letters
    assert (letter.receiver, letter.integration, letter.attempts) == ("leaving", "webhook/0", 0)
    assert letter.reason == "receiver integration no longer configured"
    assert hook.requests == []
    await hook.stop()
