"""Where a batch is correlated: a small one on the event loop (a thread
hand-off would cost more than it saves), a large one in a thread, so that the
loop keeps answering heartbeats and health checks meanwhile."""

from __future__ import annotations

import threading
from datetime import timedelta

from services.triage.correlate import INLINE_ALERTS, CorrelateStage
from services.triage.lifecycle import Timers
from services.triage.membership import Membership
from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import PartitionState
from tests.triage import alert


class Where:
    """A step that notes the thread each alert is correlated on."""

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        self.threads.add(threading.get_ident())
        return True


async def correlated_on(size: int) -> set[int]:
    where = Where()
    membership = Membership(100, timedelta(minutes=5))
    stage = CorrelateStage([where], Timers(membership, timedelta(0), timedelta(hours=1)))
    alerts = [(alert({"alertname": "Down", "pod": f"p{i}"}), "c1") for i in range(size)]
    await stage.process(TriageContext(0, PartitionState(), alerts))
    return where.threads


async def test_a_small_batch_is_correlated_on_the_event_loop() -> None:
    assert await correlated_on(INLINE_ALERTS) == {threading.get_ident()}


async def test_a_large_batch_is_correlated_off_the_event_loop() -> None:
    threads = await correlated_on(INLINE_ALERTS + 1)
    assert len(threads) == 1 and threading.get_ident() not in threads
