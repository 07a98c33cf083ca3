"""The broker's own limit: Corral's alert messages through a bare aiokafka producer
and consumer, no Corral logic, on the same topic layout the pipeline uses.

The consumer runs in a process of its own (as triage does), started before
the producer; the limit is messages ÷ (last consumed - first produced). Each
side reports the CPU time it spent, so a record's cost to the producer, the
consumer and the broker can be set against what Corral spends per alert.

The producer writes one of two ways. Plain: aiokafka's ``send()`` per
record, the limit ``make bench`` has always set Corral against. Batched: as
ingest writes, through Corral's ``Publisher`` (record batches filled
directly), ``WRITERS`` writes of ``PER_WRITE`` records at a time, each
acknowledged; that skips ``send()``'s per-record work, which bounds the
plain limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime

from bench.perf.alerts import Traffic, webhook
from shared.config import KafkaSettings
from shared.kafka.clients import new_consumer, new_producer
from shared.kafka.publisher import EncodedValue, Publisher, Record, limits
from shared.normalize import from_webhook
from shared.partitioning import alert_key
from shared.payloads import WebhookPayload
from shared.service import run


def messages(count: int, seed: int = 7, shape: str = "mixed") -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of normalized ``Alert`` records, as ingest writes them."""
    traffic = Traffic(seed=seed, resend_share=0.0, resolve_share=0.0, shape=shape)
    now = datetime.now(UTC)
    out: list[tuple[bytes, bytes]] = []
    seq = 0
    while len(out) < count:
        seq += 1
        payload = WebhookPayload.model_validate(webhook(traffic.batch(), seq))
        for alert in from_webhook(payload, now):
            out.append((alert_key(alert.labels, ["cluster"]).encode(), alert.to_bytes()))
    return out[:count]


WRITERS = 16
"""Concurrent writes of the batched producer: the load generator's connections."""
PER_WRITE = 100
"""Records per write of the batched producer: a webhook of 100 alerts."""


async def produce(
    settings: KafkaSettings, topic: str, records: list[tuple[bytes, bytes]], batched: bool = False
) -> tuple[float, float]:
    """When producing started, and the CPU seconds this process spent until
    every record was acknowledged."""
    producer = new_producer(settings)
    await producer.start()
    try:
        started, cpu = time.time(), time.process_time()
        if batched:
            await _publish(Publisher(producer, **limits(settings)), topic, records)
        else:
            pending = [await producer.send(topic, value=v, key=k) for k, v in records]
            await asyncio.gather(*pending)
        return started, time.process_time() - cpu
    finally:
        await producer.stop()


async def _publish(publisher: Publisher, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    starts = iter(range(0, len(records), PER_WRITE))

    async def writer() -> None:
        for start in starts:  # shared: each write takes the next chunk
            chunk = records[start : start + PER_WRITE]
            await publisher.publish(
                [Record(topic, key.decode(), EncodedValue(value)) for key, value in chunk]
            )

    await asyncio.gather(*(writer() for _ in range(WRITERS)))


async def consume(
    settings: KafkaSettings, topic: str, count: int, group: str
) -> tuple[float, float]:
    """When the last record arrived, and the CPU seconds spent from joining the group until then."""
    consumer = new_consumer(settings, group)
    consumer.subscribe([topic])
    await consumer.start()
    try:
        seen = 0
        print("ready", flush=True)
        cpu = time.process_time()
        while seen < count:
            batch = await consumer.getmany(timeout_ms=200, max_records=settings.max_batch)
            seen += sum(len(records) for records in batch.values())
            if batch:
                await consumer.commit()
        return time.time(), time.process_time() - cpu
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args()
    settings = KafkaSettings(
        bootstrap_servers=args.bootstrap, session_timeout="3s", heartbeat_interval="500ms"
    )
    finished, cpu = run(consume(settings, args.topic, args.count, args.group))
    json.dump({"finished": finished, "cpu_s": cpu}, sys.stdout)


if __name__ == "__main__":
    main()
