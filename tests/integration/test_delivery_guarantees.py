"""What must hold when things fail: no 2xx without the broker, no second page."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest

from services.corral.embedded import EmbeddedBroker
from services.ingest.config import IngestConfig
from services.ingest.worker import IngestWorker
from services.notify.config import NotifyConfig
from services.notify.worker import NotifyWorker
from shared.config import KafkaSettings
from shared.kafka.topics import ensure_topics
from tests.alertmanager import NODE_DOWN, am_alert, webhook
from tests.conftest import kafka_settings_for
from tests.helpers import RecordingServer, read_topic, running, suspend, wait_ready
from tests.integration.notify_fakes import incident, publish
from tests.integration.pipeline import webhook_route

pytestmark = pytest.mark.broker


async def test_ingest_answers_503_when_the_broker_is_gone() -> None:
    broker = EmbeddedBroker()
    broker.start()
    kafka = kafka_settings_for(broker.bootstrap_servers, request_timeout="1s")
    await ensure_topics(kafka)
    worker = IngestWorker(
        IngestConfig.model_validate(
            {"kafka": kafka.model_dump(), "ingest": {"publish_timeout": "1s"}}
        )
    )
    try:
        async with running(worker, worker.app()) as port:
            url = f"http://127.0.0.1:{port}/api/v1/alerts/alertmanager"
            body = webhook([am_alert(NODE_DOWN)])
            async with aiohttp.ClientSession() as session:
                async with session.post(url, json=body) as response:
                    assert response.status == 200
                broker.stop()
                async with session.post(url, json=body) as response:
                    assert response.status == 503
                    assert int(response.headers["Retry-After"]) >= 1
                    assert "retry later" in (await response.json())["error"]
    finally:
        broker.stop()


async def test_ingest_refuses_with_503_while_the_broker_falls_behind() -> None:
    """Backpressure, not an unbounded queue: past ``max_inflight_alerts`` awaiting
    the broker's acknowledgement, new requests get 503 + Retry-After at once,
    while the alerts already taken still reach Kafka."""
    broker = EmbeddedBroker()
    broker.start()
    kafka = kafka_settings_for(broker.bootstrap_servers)
    await ensure_topics(kafka)
    worker = IngestWorker(
        IngestConfig.model_validate(
            {
                "kafka": kafka.model_dump(),
                "ingest": {"max_inflight_alerts": 10, "publish_timeout": "30s"},
            }
        )
    )
    node = [am_alert({**NODE_DOWN, "instance": f"10.0.0.{i}:9100"}) for i in range(8)]
    other = [am_alert({**NODE_DOWN, "instance": f"10.0.1.{i}:9100"}) for i in range(5)]
    assert broker.process is not None
    try:
        async with running(worker, worker.app()) as port, aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/api/v1/alerts/alertmanager"
            async with session.post(url, json=webhook(node)) as response:
                assert response.status == 200
            await suspend(broker.process.pid)  # the broker stops acknowledging
            waiting = asyncio.create_task(session.post(url, json=webhook(node)))
            async with asyncio.timeout(10):
                while worker.sink.inflight < len(node):
                    await asyncio.sleep(0.02)
            async with session.post(url, json=webhook(other)) as response:
                assert response.status == 503
                assert int(response.headers["Retry-After"]) >= 1
                assert "retry later" in (await response.json())["error"]
            broker.process.send_signal(signal.SIGCONT)
            async with await waiting as response:
                assert response.status == 200
        assert len(await read_topic(kafka, kafka.topics.alerts)) == 2 * len(node)
    finally:
        if broker.process is not None:
            broker.process.send_signal(signal.SIGCONT)
        broker.stop()


def notify_worker(kafka: KafkaSettings, url: str, group: str) -> NotifyWorker:
    return NotifyWorker(
        NotifyConfig.model_validate(
            {"kafka": kafka.model_dump(), "notify": {**webhook_route(url), "group_id": group}}
        )
    )


async def test_redelivered_revision_is_not_sent_again(kafka: KafkaSettings) -> None:
    receiver = await RecordingServer().start()
    await publish(kafka, incident(1))
    first = notify_worker(kafka, receiver.url(), "notify-a")
    async with running(first):
        assert (await receiver.next()).json()["revision"] == 1

    # A fresh consumer group re-reads the whole topic, as after lost offsets;
    # the sent log (restored from Kafka) must keep it from paging again.
    second = notify_worker(kafka, receiver.url(), "notify-b")
    async with running(second):
        await wait_ready(second)
        assert await receiver.nothing_within(2.0)
        await publish(kafka, incident(2, "resolved"))
        resolved = (await receiver.next()).json()
        assert (resolved["revision"], resolved["status"]) == (2, "resolved")
    assert len(receiver.requests) == 2
    await receiver.stop()


async def test_receiver_errors_are_retried_until_taken(kafka: KafkaSettings) -> None:
    receiver = await RecordingServer(responses=[(503, {}), (500, {})]).start()
    await publish(kafka, incident(1))
    async with running(notify_worker(kafka, receiver.url(), "notify-retry")):
        for _ in range(3):
            await receiver.next()
        assert await receiver.nothing_within(1.0)
    assert [r.json()["revision"] for r in receiver.requests] == [1, 1, 1]
    await receiver.stop()


async def test_client_errors_are_not_retried(kafka: KafkaSettings) -> None:
    receiver = await RecordingServer(responses=[(400, {})]).start()
    await publish(kafka, incident(1))
    async with running(notify_worker(kafka, receiver.url(), "notify-400")):
        await receiver.next()
        assert await receiver.nothing_within(1.5)
    assert len(receiver.requests) == 1
    await receiver.stop()
