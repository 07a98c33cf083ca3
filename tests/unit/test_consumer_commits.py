"""When the consume loop commits, against a stand-in consumer whose commits
the test holds back.

A commit must never name a batch whose outputs are not acknowledged, and the
loop must not wait for one before handling the next batch: offsets handled
meanwhile go in the next commit. Stopping (and a rebalance) waits for them.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterable
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from shared.config import KafkaSettings
from shared.kafka.consumer import Batch, ConsumerLoop, _Rebalance
from shared.kafka.publisher import Record, Refusal
from shared.kafka.quarantine import Quarantine
from shared.memory import IdleTrim

TP = TopicPartition("corral.alerts", 0)


class Consumer:
    """Hands out the batches it was given; each commit waits for ``accept``."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches
        self.commits: list[dict[TopicPartition, int]] = []
        self.accept = asyncio.Event()
        self.fetched = 0

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        await asyncio.sleep(0)  # a fetch always gives the event loop a turn
        if self.batches:
            self.fetched += 1
            offsets = self.batches.pop(0)
            return {TP: [record(offset) for offset in offsets]}
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    async def position(self, tp: TopicPartition) -> int:
        return 0

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.accept.wait()
        self.commits.append(dict(offsets))


def record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(TP.topic, TP.partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


class Handler:
    def __init__(self) -> None:
        self.handled: list[int] = []

    async def handle(self, batch: Batch) -> list[Record]:
        self.handled.extend(r.offset for records in batch.values() for r in records)
        return []

    async def tick(self) -> list[Record]:
        return []

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        pass

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        pass


class Publisher:
    async def publish(
        self, records: Iterable[Record], refused: list[Refusal] | None = None
    ) -> None:
        pass


def consume_loop(consumer: Consumer, handler: Handler) -> ConsumerLoop:
    loop = ConsumerLoop(
        KafkaSettings(),
        "group",
        [TP.topic],
        handler,
        Publisher(),  # type: ignore[arg-type]
        Quarantine("test", "corral.quarantine", 1_000_000),
    )
    loop.consumer = consumer
    loop.assigned.set()
    return loop


async def consume_all(
    consumer: Consumer, handler: Handler
) -> tuple[asyncio.Task[None], asyncio.Event]:
    """The loop running until every batch was fetched: the run, and its stop."""
    stop = asyncio.Event()
    running = asyncio.create_task(consume_loop(consumer, handler).run(stop))
    async with asyncio.timeout(5):
        while consumer.batches:
            await asyncio.sleep(0.01)
    return running, stop


async def test_batches_are_handled_while_a_commit_is_on_its_way_and_their_offsets_follow() -> None:
    consumer = Consumer([[0, 1], [2], [3, 4]])
    handler = Handler()
    running, stop = await consume_all(consumer, handler)
    # Every batch handled although no commit was answered yet.
    assert handler.handled == [0, 1, 2, 3, 4]
    assert consumer.commits == []
    consumer.accept.set()
    stop.set()
    await asyncio.wait_for(running, 5)
    # The first batch's commit, then one for the two handled meanwhile.
    assert consumer.commits == [{TP: 2}, {TP: 5}]


async def test_a_stopping_loop_commits_what_it_handled() -> None:
    consumer = Consumer([[0], [1]])
    consumer.accept.set()
    running, stop = await consume_all(consumer, Handler())
    stop.set()
    await asyncio.wait_for(running, 5)
    assert consumer.commits[-1] == {TP: 2}


async def test_a_batch_s_records_are_let_go_while_its_outputs_wait_for_the_broker() -> None:
    acknowledged = asyncio.Event()
    written = asyncio.Event()
    held: list[weakref.ref[ConsumerRecord[bytes, bytes]]] = []

    class Waiting(Handler):
        async def handle(self, batch: Batch) -> list[Record]:
            held.extend(weakref.ref(r) for records in batch.values() for r in records)
            return [Record("corral.incidents", "i", None)]

    class Slow(Publisher):
        async def publish(
            self, records: Iterable[Record], refused: list[Refusal] | None = None
        ) -> None:
            written.set()
            await acknowledged.wait()

    consumer = Consumer([[0, 1]])
    consumer.accept.set()
    loop = consume_loop(consumer, Waiting())
    loop.publisher = Slow()  # type: ignore[assignment]
    stop = asyncio.Event()
    running = asyncio.create_task(loop.run(stop))
    await asyncio.wait_for(written.wait(), 5)
    gc.collect()
    assert len(held) == 2 and all(ref() is None for ref in held)
    acknowledged.set()
    stop.set()
    await asyncio.wait_for(running, 5)
    assert consumer.commits[-1] == {TP: 2}


async def test_a_loop_that_caught_up_after_a_backlog_gives_back_freed_memory_once() -> None:
    assert await trims_until_idle(Consumer([[0, 1], [2, 3]]), after=4) == [0]


async def test_a_loop_gives_back_what_restoring_its_partitions_freed_once_idle() -> None:
    assert await trims_until_idle(Consumer([]), after=1_000, restored=True) == [0]


async def trims_until_idle(consumer: Consumer, after: int, restored: bool = False) -> list[int]:
    """The trims of a loop on ``consumer`` (an ``IdleTrim`` of ``after``
    records; ``restored``: its partition assigned, its state restored), run
    until its first trim, then for some idle ticks after it."""
    consumer.accept.set()
    loop = consume_loop(consumer, Handler())
    loop.tick_interval = 0.01
    trims: list[int] = []
    loop.heap = IdleTrim(after=after, trim=lambda: trims.append(len(trims)))
    if restored:
        await _Rebalance(loop).on_partitions_assigned([TP])
    stop = asyncio.Event()
    running = asyncio.create_task(loop.run(stop))
    async with asyncio.timeout(5):
        while not trims:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # idle ticks after it
    stop.set()
    await asyncio.wait_for(running, 5)
    return trims
