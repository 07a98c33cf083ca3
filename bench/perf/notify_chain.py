"""Notify's work per incident revision alone, without a broker: CPU per revision and per alert.

Triage's chain first turns alerts of one traffic shape
(``bench.perf.alerts.SHAPES``) into the incident revisions it writes, one
group per triage batch (not timed). Then each group goes to a notify worker
as one consumed batch (``NotifyWorker.handle``) with the bench's config (one
webhook receiver, the default route), after the follower of the whole topic
for the Alertmanager API has read it, and every delivery it starts runs to
its end: admission into the sent log, intent, the webhook body, the outcome
and the sent log's records, all encoded as the publisher would, on a
publisher without a broker (``produces``: the writes notify waited for);
the receiver's HTTP request is left out. What the broker and the consume
loop cost is left out too: this is the part of notify's CPU that grows with
revisions and their members. ``--profile
FILE`` writes cProfile statistics (``python -m pstats FILE``).

    .venv/bin/python -m bench.perf.notify_chain --shape incidents --alerts 100000
    .venv/bin/python -m bench.perf.notify_chain --shape singles --alerts 20000 --batch 200
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import ConsumerRecord, TopicPartition

from bench.perf.chain import options, revisions
from services.notify import worker as notify_worker
from services.notify.config import NotifyConfig
from services.notify.receivers import webhook
from shared import collector
from shared.kafka.publisher import Pending, Record, Refusal


class Written:
    """A publisher without a broker: encodes every record, as the real one does,
    and acks it; ``produces`` counts the writes a worker waits for (round trips)."""

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0
        self.produces = 0

    def _write(self, records: Iterable[Record]) -> None:
        self.produces += 1
        for record in records:
            self.records += 1
            self.bytes += 0 if record.value is None else len(record.value.to_bytes())

    async def publish(
        self, records: Iterable[Record], refused: list[Refusal] | None = None
    ) -> None:
        self._write(records)

    async def queue(
        self, records: Iterable[Record], refused: list[Refusal] | None = None
    ) -> list[Pending]:
        self._write(records)
        return []

    async def acknowledged(self, pending: list[Pending]) -> None:
        return None


def bench_config() -> NotifyConfig:
    """As ``bench.perf.stack`` configures notify: one webhook receiver, the default route."""
    return NotifyConfig.model_validate(
        {
            "notify": {
                "route": {"receiver": "bench"},
                "receivers": [
                    {"name": "bench", "webhook_configs": [{"url": "http://127.0.0.1:9/hook"}]}
                ],
            }
        }
    )


async def run(
    shape: str, count: int, batch: int, profile: Path | None
) -> dict[str, float | int | str]:
    groups = await revisions(shape, count, batch)
    read = sum(map(len, groups))
    members = sum(len(json.loads(value)["alerts"]) for group in groups for _, value in group)
    posted = [0, 0]

    async def post(_session: Any, _url: str, body: bytes, *_args: Any) -> None:
        posted[0] += 1
        posted[1] += len(body)

    webhook.post_json = post  # type: ignore[attr-defined,assignment]
    worker = notify_worker.NotifyWorker(bench_config())
    written = Written()
    tp = TopicPartition(worker.config.kafka.topics.incidents, 0)
    offset = 0
    async with aiohttp.ClientSession() as session:
        worker.assemble(session, written)  # type: ignore[arg-type]
        dispatcher = worker.dispatcher
        assert dispatcher is not None
        profiler = cProfile.Profile() if profile else None

        async def handle(group: list[tuple[str, bytes]], offset: int) -> None:
            consumed = []
            for key, value in group:
                worker.current.apply(key, value)  # as the Alertmanager API's follower reads it
                consumed.append(
                    ConsumerRecord(tp.topic, 0, offset, 0, 0, None, value, None, 0, len(value), [])
                )
                offset += 1
            await worker.handle({tp: consumed})
            while dispatcher.tasks:
                await asyncio.gather(*list(dispatcher.tasks.values()))

        collector.tune()
        started = time.process_time()
        if profiler:
            profiler.enable()
        for group in groups:
            # The garbage collector held back until the batch is let go, as
            # the consume loop holds it.
            with collector.batch_in_hand():
                await handle(group, offset)
            offset += len(group)
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        cpu = time.process_time() - started
    return {
        "shape": shape,
        "alerts": count,
        "triage_batch": batch,
        "revisions": read,
        "members_per_revision": members / max(read, 1),
        "notifications": posted[0],
        "body_bytes": posted[1],
        "records_written": written.records,
        "bytes_written": written.bytes,
        "produces": written.produces,
        "cpu_s": cpu,
        "us_per_revision": cpu / max(read, 1) * 1e6,
        "us_per_alert": cpu / count * 1e6,
    }


def main() -> None:
    parser = options("python -m bench.perf.notify_chain", __doc__, 100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="alerts per triage batch")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.shape, args.alerts, args.batch, args.profile))))


if __name__ == "__main__":
    main()
