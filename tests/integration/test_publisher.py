"""The publisher against the real broker: where keyed records land."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import murmur2

from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from shared.kafka.publisher import Publisher, Record
from shared.kafka.state import read_to_end
from shared.messages import Alert

pytestmark = pytest.mark.broker


def alert(cluster: str) -> Alert:
    return Alert(
        fingerprint=f"fp-{cluster}",
        status="firing",
        labels={"alertname": "KubeNodeNotReady", "cluster": cluster},
        source="alertmanager",
        received_at=datetime.now(UTC),
    )


async def test_keyed_records_land_where_a_java_client_would_put_them(
    kafka: KafkaSettings,
) -> None:
    """Other producers (Kafka Connect, a Java service) must agree on the
    partition of a key, including for keys the publisher has seen before."""
    keys = [f"prod-{i}" for i in range(12)]
    producer = new_producer(kafka)
    await producer.start()
    try:
        publisher = Publisher(producer)
        for _ in range(3):
            await publisher.publish(Record(kafka.topics.alerts, k, alert(k)) for k in keys)
    finally:
        await producer.stop()

    placed: dict[str, set[int]] = {}
    await read_to_end(
        kafka, kafka.topics.alerts, None, lambda p, key, _: placed.setdefault(key, set()).add(p)
    )
    assert placed == {k: {(murmur2(k.encode()) & 0x7FFFFFFF) % kafka.partitions} for k in keys}
