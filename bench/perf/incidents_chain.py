"""The incidents worker's path alone, without a broker: CPU per incident revision.

Makes the revisions triage writes for one traffic shape (``bench.perf.alerts.SHAPES``),
running triage's chain as ``bench.perf.chain`` does (not measured), then feeds
them through the incidents worker's handler (``Materializer.handle``: decoding,
the store's transaction on SQLite, the change feed) in batches the size a
backlog gives the consume loop; with ``--receivers N``, each revision's N
delivery outcomes (as notify writes them) come in the next batch. With
``--members N``, every webhook is instead N new alerts opening an incident of
its own, triaged one webhook at a time: the latency step's load, where each
small batch holds a new incident and the outcomes of the one before
(``--members 10 --batch 1 --receivers 1``). With ``--tick N``, the store's
part of the worker's tick (open incidents by state and priority, ended
snoozes) runs after every N revisions, as it does every second in a worker
taking N revisions a second: its cost grows with the incidents the store
holds, so it shows with enough of them (``--alerts 600000``). What the
broker and the consume loop cost is
left out: this is the part of the worker's CPU that grows with revisions and
the alerts they list. CPU is the process's (``event_loop_cpu_s`` of it the
event loop's thread, the rest mostly SQLite's); the
garbage collector is tuned as the worker tunes it, and the event loop is
the worker's (``shared.service.run``). ``--profile FILE`` writes
cProfile statistics (CPU time) of the event loop's thread (``python -m pstats FILE``).

    .venv/bin/python -m bench.perf.incidents_chain --shape incidents --alerts 50000
"""

from __future__ import annotations

import cProfile
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import ConsumerRecord, TopicPartition

from bench.perf.alerts import Traffic, webhook
from bench.perf.chain import INCIDENTS, options, revisions, triage_chain
from services.incidents.feed import ChangeFeed
from services.incidents.materialize import Materializer
from services.incidents.store import IncidentStore
from services.incidents.store.database import SqliteDatabase
from services.incidents.times import now_ms
from services.triage.stages import TriageContext
from services.triage.state import PartitionState
from shared import collector
from shared.config import TopicNames
from shared.kafka.quarantine import Quarantine
from shared.messages import Alert, DeliveryOutcome, Incident
from shared.normalize import from_webhook
from shared.partitioning import alert_key
from shared.payloads import WebhookPayload
from shared.service import run

TOPICS = TopicNames()
DELIVERY_TIME = timedelta(milliseconds=40)


async def small_incidents(count: int, members: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of the revisions triage writes for ``count`` alerts sent
    ``members`` to a webhook, each webhook a new incident (not timed)."""
    chain = await triage_chain()
    state = PartitionState()
    traffic = Traffic(seed=7, shape="incidents")
    now = datetime.now(UTC)
    written: list[tuple[bytes, bytes]] = []
    for seq in range(count // members):
        body = webhook(traffic.fresh(f"lat-{seq}", members), seq)
        alerts = from_webhook(WebhookPayload.model_validate(body), now)
        # As ingest writes them and triage reads them.
        read = ((Alert.from_bytes(a.to_bytes()), alert_key(a.labels, ["cluster"])) for a in alerts)
        ctx = TriageContext(0, state, read)
        await chain.process(ctx)
        written += [
            ((r.key or "").encode(), r.value.to_bytes())
            for r in ctx.records
            if r.topic == INCIDENTS and r.value is not None
        ]
    return written


def delivered(revisions: list[tuple[bytes, bytes]], receivers: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of the delivery outcomes notify writes for each revision,
    one per receiver, each when its delivery ended: after the revision, so
    that it moves the incident's time of change as a live one does."""
    out: list[tuple[bytes, bytes]] = []
    for key, value in revisions:
        incident = Incident.from_bytes(value)
        for n in range(receivers):
            outcome = DeliveryOutcome(
                incident_id=incident.id,
                revision=incident.revision,
                receiver=f"receiver-{n}",
                integration="webhook/0",
                notification="trigger",
                status="sent",
                key=f"{incident.id}-{incident.revision}",
                at=incident.updated_at + DELIVERY_TIME * (n + 1),
            )
            out.append((key, outcome.to_bytes()))
    return out


def consumer_record(topic: str, offset: int, key: bytes, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=(),
    )


async def measure(
    shape: str,
    count: int,
    triage_batch: int,
    batch: int,
    receivers: int,
    members: int | None,
    profile: Path | None,
    tick: int | None = None,
) -> dict[str, float | int | str]:
    if members:
        shape = f"{members} alerts per incident"
        written = await small_incidents(count, members)
    else:
        written = [
            (key.encode(), value)
            for group in await revisions(shape, count, triage_batch)
            for key, value in group
        ]
    records = [consumer_record(TOPICS.incidents, i, k, v) for i, (k, v) in enumerate(written)]
    members = sum(v.count(b'"fingerprint"') for _, v in written)
    # A revision's outcomes come after it was delivered: with the next batch.
    outcomes = [
        consumer_record(TOPICS.notify_outcomes, i, k, v)
        for i, (k, v) in enumerate(delivered(written, receivers))
    ]
    tp = TopicPartition(TOPICS.incidents, 0)
    outcomes_tp = TopicPartition(TOPICS.notify_outcomes, 0)
    with tempfile.TemporaryDirectory() as tmp:
        store = IncidentStore(SqliteDatabase(Path(tmp) / "incidents.sqlite3"))
        await store.open()
        quarantine = Quarantine("incidents", TOPICS.quarantine, 1 << 20)
        materializer = Materializer(store, ChangeFeed(), TOPICS, quarantine)
        profiler = cProfile.Profile(time.thread_time) if profile else None
        collector.tune()
        batches = ticks = 0
        ticked = 0  # revisions handled at the last tick
        started, started_loop = time.process_time(), time.thread_time()
        if profiler:
            profiler.enable()
        for first in range(0, len(records) + batch, batch):
            done = outcomes[(first - batch) * receivers : first * receivers] if first else []
            consumed = {tp: records[first : first + batch], outcomes_tp: done}
            if any(consumed.values()):
                batches += 1
                # The garbage collector held back until the batch is let go,
                # as the consume loop holds it.
                with collector.batch_in_hand():
                    await materializer.handle({t: rs for t, rs in consumed.items() if rs})
            handled = min(first + batch, len(records))
            if tick and handled - ticked >= tick:
                ticked, ticks, now = handled, ticks + 1, now_ms()
                await store.open_counts(now)
                await store.snoozes_ended(0, now)
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        cpu = time.process_time() - started
        loop_cpu = time.thread_time() - started_loop
        [(stored,)] = await store.db.fetch("SELECT count(*) FROM corral_incidents")
        await store.close()
    return {
        "shape": shape,
        "alerts": count,
        "revisions": len(records),
        "outcomes": len(outcomes),
        "members_listed": members,
        "incidents": stored,
        "bytes_read": sum(len(v) for _, v in written),
        "batch": batch,
        "batches": batches,
        "ticks": ticks,
        "cpu_s": round(cpu, 3),
        "event_loop_cpu_s": round(loop_cpu, 3),
        "us_per_revision": round(cpu / max(len(records), 1) * 1e6, 1),
        "us_per_batch": round(cpu / max(batches, 1) * 1e6, 1),
        "us_per_alert": round(cpu / count * 1e6, 2),
        "us_per_member_listed": round(cpu / max(members, 1) * 1e6, 2),
    }


def main() -> None:
    parser = options("python -m bench.perf.incidents_chain", __doc__, 50_000)
    parser.add_argument(
        "--triage-batch", type=int, default=10_000, help="alerts per triage batch (revisions)"
    )
    parser.add_argument("--batch", type=int, default=100, help="revisions per consumed batch")
    parser.add_argument(
        "--receivers", type=int, default=0, help="delivery outcomes per revision (notify's)"
    )
    parser.add_argument(
        "--members",
        type=int,
        default=None,
        help="instead of --shape: every webhook this many new alerts, an incident of its own",
    )
    parser.add_argument(
        "--tick",
        type=int,
        default=None,
        help="the store's part of the worker's tick after every this many revisions",
    )
    args = parser.parse_args()
    # On the worker's event loop (uvloop), whose handoffs from SQLite's thread it pays.
    result = run(
        measure(
            args.shape,
            args.alerts,
            args.triage_batch,
            args.batch,
            args.receivers,
            args.members,
            args.profile,
            args.tick,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
