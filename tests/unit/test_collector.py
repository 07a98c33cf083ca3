"""The garbage collector leaves a batch in hand alone and collects once it is let go."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from shared import collector
from shared.kafka.consumer import Batch
from shared.kafka.publisher import Record
from shared.metrics import GC_PAUSES
from tests.unit.test_consumer_commits import Consumer, Handler, consume_loop


@pytest.fixture(autouse=True)
def worker_settings() -> Iterator[None]:
    """The thresholds a worker runs with (``collector.tune`` without the
    freeze, which would keep the test session's objects out of every later
    collection), and the test session's back afterwards."""
    before = gc.get_threshold()
    gc.collect()
    gc.set_threshold(collector.YOUNG, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def young_collections() -> Iterator[list[int]]:
    """The generations collected meanwhile, in order."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)


def live_objects(count: int) -> list[dict[str, int]]:
    """As a batch keeps its decoded records: tracked, all in use."""
    return [{"n": n} for n in range(count)]


def test_a_batch_in_hand_is_not_walked_while_its_objects_are_in_use() -> None:
    with young_collections() as outside:
        kept = live_objects(3 * collector.YOUNG)
    assert outside, "the control: these thresholds collect within such a batch"
    del kept
    with collector.batch_in_hand(), young_collections() as inside:
        kept = live_objects(3 * collector.YOUNG)
    del kept
    assert inside == []


def test_cycles_a_batch_left_are_collected_once_it_is_let_go() -> None:
    class Node:
        def __init__(self) -> None:
            self.self = self

    with collector.batch_in_hand():
        cycles = [Node() for _ in range(collector.YOUNG + 1)]
        last = weakref.ref(cycles[-1])
        del cycles
        assert last() is not None  # a cycle: reference counting cannot free it
    live_objects(1)
    assert last() is None


def test_the_settings_come_back_once_the_last_overlapping_batch_is_let_go() -> None:
    first, second = collector.batch_in_hand(), collector.batch_in_hand()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == (collector.IN_BATCH, 20, 100)
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (collector.YOUNG, 20, 100)


def test_automatic_collection_switched_off_stays_off() -> None:
    gc.set_threshold(0)
    with collector.batch_in_hand():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


async def test_the_consume_loop_holds_the_collector_back_while_it_handles_a_batch() -> None:
    seen: list[tuple[int, int, int]] = []
    handled = asyncio.Event()

    class Recording(Handler):
        async def handle(self, batch: Batch) -> list[Record]:
            seen.append(gc.get_threshold())
            handled.set()
            return await super().handle(batch)

    consumer = Consumer([[0, 1]])
    consumer.accept.set()
    stop = asyncio.Event()
    running = asyncio.create_task(consume_loop(consumer, Recording()).run(stop))
    await asyncio.wait_for(handled.wait(), 5)
    stop.set()
    await asyncio.wait_for(running, 5)
    assert seen == [(collector.IN_BATCH, 20, 100)]
    assert gc.get_threshold() == (collector.YOUNG, 20, 100)


def test_every_run_of_the_collector_is_a_pause_on_the_metrics_page() -> None:
    def full_runs() -> tuple[float, float]:
        samples = {
            s.name: s.value
            for s in GC_PAUSES.collect()[0].samples
            if s.labels.get("generation") == "2"
        }
        return samples["corral_gc_pause_seconds_count"], samples["corral_gc_pause_seconds_sum"]

    collector.watch_pauses()
    collector.watch_pauses()
    runs, seconds = full_runs()
    gc.collect()
    after_runs, after_seconds = full_runs()
    assert after_runs == runs + 1  # timed once, however often asked
    assert after_seconds > seconds
