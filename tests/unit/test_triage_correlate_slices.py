"""A batch is correlated on the event loop in slices: between them the loop
answers heartbeats, health checks and fetches, and the alerts are still
correlated once each, in partition order."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from services.triage import correlate
from services.triage.correlate import CorrelateStage
from services.triage.lifecycle import Timers
from services.triage.membership import Membership
from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import PartitionState
from tests.triage import alert


class Slow:
    """A step that takes ``seconds`` of CPU per alert and notes the alerts in order."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.seen: list[str] = []

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        until = time.perf_counter() + self.seconds
        while time.perf_counter() < until:
            pass
        self.seen.append(event.alert.labels["pod"])
        return True


async def correlate_while_counting(size: int, seconds: float) -> tuple[list[str], list[int]]:
    """The pods correlated, in order, and how many had been when each turn of
    a task running beside the batch came."""
    slow = Slow(seconds)
    membership = Membership(100, timedelta(minutes=5))
    stage = CorrelateStage([slow], Timers(membership, timedelta(0), timedelta(hours=1)))
    alerts = [(alert({"alertname": "Down", "pod": f"p{i}"}), "c1") for i in range(size)]
    turns: list[int] = []
    done = False

    async def beside() -> None:
        while not done:
            turns.append(len(slow.seen))
            await asyncio.sleep(0)

    task = asyncio.create_task(beside())
    await asyncio.sleep(0)
    await stage.process(TriageContext(0, PartitionState(), alerts))
    done = True
    await task
    return slow.seen, turns


async def test_the_loop_runs_between_slices_of_a_long_batch() -> None:
    # Each alert takes a fifth of a slice: the batch spans several slices.
    seen, turns = await correlate_while_counting(50, correlate.SLICE_SECONDS / 5)
    assert seen == [f"p{i}" for i in range(50)]
    during = [count for count in turns if 0 < count < 50]
    assert len(during) >= 2, turns


async def test_a_short_batch_is_correlated_in_one_go() -> None:
    seen, turns = await correlate_while_counting(5, 0)
    assert seen == [f"p{i}" for i in range(5)]
    assert not [count for count in turns if 0 < count < 5]
