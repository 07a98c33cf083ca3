"""What ingest answers for alerts the broker took, and what it counts.

The 200 body is written from bytes rather than encoded per request, and the
endpoint's metrics are looked up once per app rather than per request: the
sender and the dashboards must see exactly what they saw before.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka.producer.message_accumulator import BatchBuilder
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from services.ingest.app import IngestApp, accepted
from services.ingest.config import IngestSettings
from services.ingest.sink import AlertSink
from shared.kafka.publisher import Publisher
from shared.normalize import from_webhook
from shared.payloads import WebhookPayload
from shared.service import bound_port, start_http
from tests.alertmanager import am_alert, webhook


@given(st.integers(min_value=0, max_value=1 << 40))
def test_the_accepted_answer_is_the_json_response_it_replaces(alerts: int) -> None:
    plain = web.json_response({"status": "success", "alerts": alerts})
    fast = accepted(alerts)
    assert fast.body == plain.body
    assert dict(fast.headers) == dict(plain.headers)
    assert (fast.status, fast.content_type, fast.charset) == (200, "application/json", "utf-8")


class AckingBroker:
    """The producer side of a broker that takes every batch at once."""

    def __init__(self) -> None:
        self.client = SimpleNamespace(cluster=SimpleNamespace(partitions_for_topic=lambda _: {0}))
        self.records = 0

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(1024 * 1024, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        self.records += batch.record_count()
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


def sample(name: str, endpoint: str) -> float:
    return REGISTRY.get_sample_value(name, {"endpoint": endpoint}) or 0.0


async def test_accepted_alerts_are_answered_and_counted_per_endpoint() -> None:
    broker = AckingBroker()
    sink = AlertSink(IngestSettings(), "corral.alerts")
    sink.publisher = Publisher(broker)  # type: ignore[arg-type]
    runner = await start_http(
        IngestApp(sink.settings, sink, "corral.feedback").build(), "127.0.0.1:0"
    )
    base = f"http://127.0.0.1:{bound_port(runner)}"
    received = "corral_alerts_received_total"
    timed = "corral_ingest_request_duration_seconds_count"
    before = {e: (sample(received, e), sample(timed, e)) for e in ("alertmanager", "api_v2")}
    pair = [am_alert({"alertname": n, "cluster": "prod"}) for n in ("One", "Two")]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/api/v1/alerts/alertmanager", json=webhook(pair)) as r:
                assert r.status == 200
                assert r.headers["Content-Type"] == "application/json; charset=utf-8"
                assert await r.json() == {"status": "success", "alerts": 2}
            single = [{"labels": {"alertname": "Three", "cluster": "prod"}}]
            async with session.post(f"{base}/api/v2/alerts", json=single) as r:
                assert r.status == 200
                assert await r.json() == {"status": "success", "alerts": 1}
            async with session.post(f"{base}/api/v2/alerts", json=[{"labels": {}}]) as r:
                assert r.status == 422  # timed, not counted as received
    finally:
        await runner.cleanup()
    assert broker.records == 3
    after = {e: (sample(received, e), sample(timed, e)) for e in ("alertmanager", "api_v2")}
    assert after["alertmanager"] == (before["alertmanager"][0] + 2, before["alertmanager"][1] + 1)
    assert after["api_v2"] == (before["api_v2"][0] + 1, before["api_v2"][1] + 2)


class HoldingBroker(AckingBroker):
    """Takes every batch and acknowledges none until ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[asyncio.Future[None]] = []

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        self.records += batch.record_count()
        self.held.append(asyncio.get_running_loop().create_future())
        return self.held[-1]

    def release(self) -> None:
        for acked in self.held:
            acked.set_result(None)


async def test_the_inflight_gauge_shows_the_alerts_awaiting_the_broker() -> None:
    """Read when scraped, not set per request: the same figure either way."""
    broker = HoldingBroker()
    sink = AlertSink(IngestSettings(), "corral.alerts")
    sink.publisher = Publisher(broker)  # type: ignore[arg-type]
    body = WebhookPayload.model_validate(webhook([am_alert({"alertname": n}) for n in "ABC"]))
    publish = asyncio.create_task(sink.publish(from_webhook(body, datetime.now(UTC)), 0))
    while not broker.held:
        await asyncio.sleep(0)
    assert REGISTRY.get_sample_value("corral_ingest_inflight_alerts") == 3
    broker.release()
    await publish
    assert REGISTRY.get_sample_value("corral_ingest_inflight_alerts") == 0
