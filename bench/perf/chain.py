"""Triage's chain alone, without a broker: CPU per alert and per incident revision.

Feeds alert records of one traffic shape (``bench.perf.alerts.SHAPES``), as
ingest writes them, through ``build_chain`` in batches the size a backlog
gives the consume loop, and encodes every record the chain writes (revisions
and state records) as the publisher would. What the broker and the consume
loop cost is left out: this is the part of triage's CPU that grows with
alerts and revisions. The garbage collector is tuned as the worker tunes it.
``stage_us_per_revision`` splits the CPU per revision by stage, ``encode``
being the records' encoding at publish time.
``--profile FILE`` writes cProfile statistics (``python -m pstats FILE``),
with correlation run on the event loop's thread so that the profile sees it.

Time passes as if the alerts arrived at ``--rate`` alerts/s: the worker's
tick (which releases held revisions, ends quiet periods...) runs once a
second of that clock, as it does for a partition that keeps up; the alerts'
own times stay those ingest gave them (one webhook's alerts share one).

    .venv/bin/python -m bench.perf.chain --shape incidents --alerts 100000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.perf.alerts import SHAPES
from bench.perf.limit import messages
from services.triage.config import TriageSettings
from services.triage.scoring.stage import ScoringStage
from services.triage.stages import Chain, Stage, TriageContext
from services.triage.state import PartitionState
from services.triage.worker import build_chain
from shared import collector
from shared.messages import Alert

INCIDENTS = "incidents"
# Alerts per second the fake clock assumes: about what the whole pipeline
# takes of the singles shape on two cores (the workers' figures, not this bench's).
RATE = 1000.0
TICK = timedelta(seconds=1)  # the consume loop's tick interval


async def _inline(function: Callable[..., Any], /, *args: Any) -> Any:
    return function(*args)


class Timed:
    """A stage whose CPU time is added up (correlation's thread included:
    ``process_time`` counts every thread of the process)."""

    def __init__(self, stage: Stage, spent: defaultdict[str, float]):
        self.stage = stage
        self.name = stage.name
        self.spent = spent

    async def process(self, ctx: TriageContext) -> None:
        started = time.process_time()
        await self.stage.process(ctx)
        self.spent[self.name] += time.process_time() - started


async def triage_chain() -> Chain:
    """Triage's chain as the worker builds it (revisions to ``INCIDENTS``), its
    severity model loaded."""
    chain = build_chain(TriageSettings(), INCIDENTS, "state")
    for stage in chain.stages:
        if isinstance(stage, ScoringStage):
            await stage.load_model()
    return chain


async def feed(
    chain: Chain,
    records: list[tuple[bytes, bytes]],
    batch: int,
    each: Callable[[TriageContext], None],
    rate: float = RATE,
) -> None:
    """Each batch of ``batch`` records through ``chain`` on one partition, and
    a tick whenever a second of the clock passed: ``each`` sees every context
    once processed, where the consume loop would publish its records, with the
    garbage collector held back until the batch is let go, as the loop holds it."""
    state = PartitionState()
    start = Alert.from_bytes(records[0][1]).received_at if records else datetime.now(UTC)
    next_tick = start + TICK
    for first in range(0, len(records), batch):
        part = records[first : first + batch]
        with collector.batch_in_hand():
            alerts = ((Alert.from_bytes(value), key.decode()) for key, value in part)
            await _through(chain, TriageContext(0, state, alerts), each)
        now = start + timedelta(seconds=(first + len(part)) / rate)
        if now >= next_tick:
            with collector.batch_in_hand():
                await _through(chain, TriageContext(0, state, now=now), each)
            next_tick = now + TICK


async def _through(chain: Chain, ctx: TriageContext, each: Callable[[TriageContext], None]) -> None:
    """One context through ``chain`` and ``each``; let go on return."""
    await chain.process(ctx)
    each(ctx)


async def revisions(
    shape: str, count: int, batch: int, rate: float = RATE
) -> list[list[tuple[str, bytes]]]:
    """(key, value) of the revisions triage writes for ``count`` alerts of
    ``shape``, by triage batch of ``batch`` alerts (and by tick) arriving at
    ``rate``: the input of the other workers' chain benches (not timed)."""
    chain = await triage_chain()
    groups: list[list[tuple[str, bytes]]] = []

    def written(ctx: TriageContext) -> None:
        groups.append(
            [
                (r.key or "", r.value.to_bytes())
                for r in ctx.records
                if r.topic == INCIDENTS and r.value is not None
            ]
        )

    await feed(chain, messages(count, shape=shape), batch, written, rate)
    return groups


async def run(
    shape: str, count: int, batch: int, profile: Path | None, rate: float = RATE
) -> dict[str, Any]:
    records = messages(count, shape=shape)
    chain = await triage_chain()
    spent: defaultdict[str, float] = defaultdict(float)
    chain.stages = [Timed(stage, spent) for stage in chain.stages]
    revisions = written = ticks = 0
    profiler = None
    if profile:
        profiler = cProfile.Profile()
        asyncio.to_thread = _inline  # type: ignore[assignment]

    def publish(ctx: TriageContext) -> None:
        nonlocal ticks, written, revisions
        ticks += ctx.now is not None
        encoding = time.process_time()
        for record in ctx.records:
            if record.value is not None:
                written += len(record.value.to_bytes())
            revisions += record.topic == "incidents"
        spent["encode"] += time.process_time() - encoding

    collector.tune()
    started = time.process_time()
    if profiler:
        profiler.enable()
    await feed(chain, records, batch, publish, rate)
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    cpu = time.process_time() - started
    return {
        "shape": shape,
        "alerts": len(records),
        "batch": batch,
        "rate": rate,
        "ticks": ticks,
        "revisions": revisions,
        "revisions_per_alert": round(revisions / max(len(records), 1), 4),
        "bytes_written": written,
        "cpu_s": cpu,
        "us_per_alert": cpu / len(records) * 1e6,
        "us_per_revision": cpu / max(revisions, 1) * 1e6,
        "stage_us_per_revision": {
            name: round(seconds / max(revisions, 1) * 1e6) for name, seconds in spent.items()
        },
    }


def options(prog: str, description: str | None, alerts: int) -> argparse.ArgumentParser:
    """The options every broker-free chain bench takes; each adds its batch sizes."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=SHAPES, default="incidents")
    parser.add_argument("--alerts", type=int, default=alerts)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile output file")
    return parser


def main() -> None:
    parser = options("python -m bench.perf.chain", __doc__, 100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="alerts per consumed batch")
    parser.add_argument(
        "--rate", type=float, default=RATE, help="alerts/s the ticks' clock assumes"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.shape, args.alerts, args.batch, args.profile, args.rate))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
