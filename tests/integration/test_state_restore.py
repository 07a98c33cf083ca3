"""A partition whose state cannot be restored is never handled on empty state.

Before, aiokafka swallowed the restore's exception and triage carried on
with no state: duplicate incidents, old ones never resolved. Now the
partition stays paused, ``/-/ready`` answers 503 and a metric says so, the
restore is retried, and once the record is fixed the alerts that waited are
handled with the state they belong to.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from prometheus_client import REGISTRY

from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from tests.helpers import running, wait_ready
from tests.integration.triage import incidents, incidents_until, produce, worker
from tests.triage import alert

pytestmark = pytest.mark.broker

BROKEN = "i/broken"


async def write_state(kafka: KafkaSettings, value: bytes | None) -> None:
    """The same record on every partition of triage's changelog."""
    producer = new_producer(kafka)
    await producer.start()
    try:
        for partition in range(kafka.partitions):
            await producer.send_and_wait(
                kafka.topics.triage_state, value, key=BROKEN.encode(), partition=partition
            )
    finally:
        await producer.stop()


async def ready_status(port: int) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/-/ready") as response,
    ):
        return response.status


async def test_an_unreadable_state_record_holds_the_partition_until_it_is_fixed(
    kafka: KafkaSettings,
) -> None:
    await write_state(kafka, b'{"id": "broken", "revision":')  # cut short
    triage = worker(kafka)
    async with running(triage) as port:
        await produce(kafka, [alert({"alertname": "DiskFull", "cluster": "c1", "node": "n1"})])
        await asyncio.sleep(3)
        assert triage.loop is not None and triage.loop.assigned.is_set()
        assert await ready_status(port) == 503
        assert await incidents(kafka) == []  # not handled on empty state
        group = triage.config.triage.group_id
        unrestored = REGISTRY.get_sample_value("corral_partitions_unrestored", {"group": group})
        assert unrestored == kafka.partitions
        assert REGISTRY.get_sample_value("corral_state_restore_failures_total", {"group": group})

        await write_state(kafka, None)  # the operator deletes the bad record
        await wait_ready(triage, timeout=60)
        [opened] = await incidents_until(kafka, lambda found: len(found) == 1)
        assert opened.alerts[0].labels["alertname"] == "DiskFull"
        assert await ready_status(port) == 200
