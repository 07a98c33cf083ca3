"""A Kafka client that fails for good mid-stream is replaced, and the alert
still pages once: triage and notify each lose their consumer to an error
aiokafka does not retry, as one may after a broker comes back from a stall."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import UnknownError
from prometheus_client import REGISTRY

from services.notify.worker import NotifyWorker
from services.triage.worker import TriageWorker
from shared.config import KafkaSettings
from tests.alertmanager import NODE_DOWN, NODE_DOWN_TEXT, am_alert, webhook
from tests.helpers import RecordingServer
from tests.integration.pipeline import pipeline, webhook_route

pytestmark = pytest.mark.broker


async def fail(*_: object, **__: object) -> dict[object, object]:
    raise UnknownError("an answer the client does not expect")


def replaced(worker: str) -> float:
    value = REGISTRY.get_sample_value("corral_kafka_clients_replaced_total", {"worker": worker})
    return value or 0.0


async def test_workers_replace_a_failed_consumer_and_the_alert_pages_once(
    kafka: KafkaSettings,
) -> None:
    receiver = await RecordingServer().start()
    before = {name: replaced(name) for name in ("triage", "notify")}
    async with pipeline(kafka, webhook_route(receiver.url())) as p:
        workers: dict[str, TriageWorker | NotifyWorker] = {"triage": p.triage, "notify": p.notify}
        failed: dict[str, AIOKafkaConsumer] = {}
        for name, worker in workers.items():
            assert worker.loop is not None and worker.loop.consumer is not None
            failed[name] = worker.loop.consumer
            failed[name].getmany = fail
        async with asyncio.timeout(30):  # until each runs again, on new clients
            while not all(
                w.ready() and w.loop is not None and w.loop.consumer is not failed[name]
                for name, w in workers.items()
            ):
                await asyncio.sleep(0.05)
        assert {name: replaced(name) - before[name] for name in before} == {
            "triage": 1,
            "notify": 1,
        }

        endpoint = f"{p.ingest_url}/api/v1/alerts/alertmanager"
        async with (
            aiohttp.ClientSession() as session,
            session.post(endpoint, json=webhook([am_alert(NODE_DOWN, NODE_DOWN_TEXT)])) as r,
        ):
            assert r.status == 200
        incident = (await receiver.next()).json()
        assert incident["event"] == "opened"
        assert incident["alerts"][0]["labels"] == NODE_DOWN
        assert await receiver.nothing_within(2.0)
    await receiver.stop()
