"""Requests are answered for their own alerts: one request's publish timeout
never fails another's, and an alert too large to store is refused (413), not
retried forever.

Requests share the producer's batches. Before, a request that timed out
cancelled the batch futures it waited on, and with them the wait of every
other request whose alerts were in the same batches: those got 503 too
(and their senders resent) although the broker took their alerts.

The broker here is a stand-in that answers when the test says, so that two
requests' alerts land in one batch and the broker answers between the first
one's deadline and the second one's: the real ingest app, sink and publisher
run in front of it.
"""

from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiokafka.producer.message_accumulator import BatchBuilder

from services.ingest.app import IngestApp
from services.ingest.config import IngestSettings
from services.ingest.sink import AlertSink
from shared.kafka.publisher import Publisher
from shared.service import bound_port, start_http
from tests.alertmanager import am_alert, webhook


class LateBroker:
    """The producer side of a broker that is slow to make room and to answer."""

    def __init__(self) -> None:
        self.client = SimpleNamespace(cluster=SimpleNamespace(partitions_for_topic=lambda _: {0}))
        self.room = asyncio.Event()
        self.sent: list[asyncio.Future[None]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(1024 * 1024, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        # The first batch waits for room, as aiokafka's accumulator makes a
        # writer wait while the partition's previous batch is in flight.
        if not self.sent:
            self.sent.append(asyncio.get_running_loop().create_future())
            await self.room.wait()
            return self.sent[0]
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append(future)
        return future

    def answer(self) -> None:
        for future in self.sent:
            if not future.done():
                future.set_result(None)


async def test_a_request_that_times_out_does_not_fail_the_one_beside_it() -> None:
    broker = LateBroker()
    sink = AlertSink(IngestSettings(publish_timeout="1s"), "corral.alerts")
    sink.publisher = Publisher(broker)  # type: ignore[arg-type]
    runner = await start_http(
        IngestApp(sink.settings, sink, "corral.feedback").build(), "127.0.0.1:0"
    )
    url = f"http://127.0.0.1:{bound_port(runner)}/api/v1/alerts/alertmanager"

    async def post(name: str) -> int:
        body = webhook([am_alert({"alertname": name, "cluster": "prod"})])
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
            return response.status

    try:
        # The first request's batch waits for room; the next two requests'
        # alerts meanwhile go into one open batch together.
        first = asyncio.create_task(post("First"))
        await asyncio.sleep(0.05)
        early = asyncio.create_task(post("Early"))
        await asyncio.sleep(0.6)
        late = asyncio.create_task(post("Late"))
        await asyncio.sleep(0.55)  # past the first two requests' deadlines
        assert (await first, await early) == (503, 503)
        broker.room.set()
        # The open batch goes out once the first one is answered: answer that too.
        while not late.done():
            await asyncio.sleep(0.05)
            broker.answer()
        # The late request's alerts were acknowledged within its own deadline.
        assert await late == 200
    finally:
        await runner.cleanup()


async def test_an_alert_larger_than_the_broker_takes_is_refused_with_413() -> None:
    broker = LateBroker()
    broker.room.set()
    # Annotations as large as ingest's own limits allow, so that the broker's
    # record size is what refuses the alert.
    settings = IngestSettings.model_validate({"limits": {"max_annotation_value_length": 4 << 20}})
    sink = AlertSink(settings, "corral.alerts")
    sink.publisher = Publisher(broker, max_record_bytes=1_048_588)  # type: ignore[arg-type]
    app = IngestApp(sink.settings, sink, "corral.feedback").build()
    runner = await start_http(app, "127.0.0.1:0")
    url = f"http://127.0.0.1:{bound_port(runner)}/api/v1/alerts/alertmanager"
    dump = os.urandom(1024 * 1024).hex()
    body = webhook(
        [
            am_alert({"alertname": "Fine", "cluster": "prod"}),
            am_alert({"alertname": "Huge", "cluster": "prod"}, {"dump": dump}),
        ]
    )
    try:
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
            answer = await response.json()
            assert response.status == 413
    finally:
        await runner.cleanup()
    assert answer["field"] == "alerts[1]"
    assert "over the limit of 1048588" in answer["error"]
    assert broker.sent == []  # nothing of the request was written
