"""How the publisher gathers writes into batches, against a stand-in producer
that answers when the test says.

An idle partition's writes go out at once; while a partition's batch is on
its way to the broker, later writes gather into one batch that follows it.
Nothing is lost or reordered on the way, whichever writer opens a batch.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from shared.kafka.publisher import EncodedValue, Publisher, Record


class Broker:
    """The producer side of a broker whose answers the test releases."""

    def __init__(self, batch_bytes: int = 1024 * 1024) -> None:
        self.client = SimpleNamespace(
            cluster=SimpleNamespace(partitions_for_topic=lambda _: {0, 1})
        )
        self.batch_bytes = batch_bytes
        # (topic, partition, values, answer) per batch, in the order sent.
        self.sent: list[tuple[str, int, list[bytes], asyncio.Future[None]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_bytes, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        values = [r.value for r in DefaultRecordBatch(bytes(batch._build()))]
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, partition, values, answer))
        return answer

    def answer_all(self) -> None:
        for *_, answer in self.sent:
            if not answer.done():
                answer.set_result(None)

    def batches(self, partition: int = 0) -> list[list[bytes]]:
        return [values for _, p, values, _ in self.sent if p == partition]


def record(value: str, partition: int = 0) -> Record:
    return Record("t", None, EncodedValue(value.encode()), partition)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_idle_partition_writes_at_once() -> None:
    broker = Broker()
    publisher = Publisher(broker)
    pending = await publisher.queue([record("a"), record("b")])
    await settle()
    assert broker.batches() == [[b"a", b"b"]]
    broker.answer_all()
    await publisher.acknowledged(pending)


async def test_writes_gather_while_the_partitions_batch_is_in_flight() -> None:
    broker = Broker()
    publisher = Publisher(broker)
    first = asyncio.create_task(publisher.publish([record("a")]))
    await settle()
    later = [asyncio.create_task(publisher.publish([record(v)])) for v in "bcd"]
    await settle()
    # Three writers, one batch waiting behind the one in flight.
    assert broker.batches() == [[b"a"]]
    broker.answer_all()
    await first
    await settle()
    assert broker.batches() == [[b"a"], [b"b", b"c", b"d"]]
    broker.answer_all()
    await asyncio.gather(*later)


async def test_a_busy_partition_does_not_hold_another() -> None:
    broker = Broker()
    publisher = Publisher(broker)
    await publisher.queue([record("a", partition=0)])
    await settle()
    pending = await publisher.queue([record("b", partition=0), record("x", partition=1)])
    await settle()
    assert broker.batches(0) == [[b"a"]]
    assert broker.batches(1) == [[b"x"]]
    broker.answer_all()
    await settle()
    broker.answer_all()
    await publisher.acknowledged(pending)
    assert broker.batches(0) == [[b"a"], [b"b"]]


async def test_full_batches_go_out_behind_the_one_in_flight_and_nothing_is_lost() -> None:
    """Writers filling batches while the partition is busy: every record is
    sent once, each writer's in the order it wrote them, and every writer is
    answered."""
    broker = Broker(batch_bytes=200)
    publisher = Publisher(broker)
    written = [[f"w{w:02d}-r{r}-" + "x" * 40 for r in range(3)] for w in range(20)]
    writers = [
        asyncio.create_task(publisher.publish([record(v) for v in values])) for values in written
    ]
    async with asyncio.timeout(10):  # a lost record leaves its writer waiting
        while not all(w.done() for w in writers):
            await asyncio.sleep(0.001)
            broker.answer_all()
    await asyncio.gather(*writers)
    sent = [v.decode() for batch in broker.batches() for v in batch]
    assert sorted(sent) == sorted(v for values in written for v in values)
    for values in written:
        assert [v for v in sent if v[:3] == values[0][:3]] == values
    assert len(broker.batches()) > 1
