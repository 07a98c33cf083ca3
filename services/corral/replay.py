"""Recorded alerts through triage, scoring and notify's routing, offline.

The chain is the workers' own (``services.triage.worker.build_chain``, fed
``TriageContext`` batches as the worker feeds them), so a replay decides what
the workers would decide with that config: same incidents, same ids, same
priorities. Time is event time throughout: each webhook's alerts are one
batch at their ``received_at``, partitioned by their key as ingest's producer
would, and the timers (quiet periods, holds, flapping) run at their due times
between batches, as the workers' ticks run them on a caught-up partition.
Routing and paging are simulated by ``paging``; nothing needs a broker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from aiokafka.partitioner import murmur2

from services.corral.config import CorralConfig
from services.corral.grouping import Scores, pairwise
from services.corral.paging import NotifySimulation, Paging
from services.triage.config import TriageSettings
from services.triage.scoring.stage import ScoringStage
from services.triage.stages import AlertEvent, AlertFailed, TriageContext
from services.triage.state import IncidentState, PartitionState, duration_ms, from_ms
from services.triage.statelog import PartitionRestorer
from services.triage.worker import build_chain
from shared import codec
from shared.history import History
from shared.messages import Alert, Incident

INCIDENTS = "incidents"
STATE = "state"


@dataclass(frozen=True)
class Placement:
    """An alert put into an incident, by a policy, for a reason."""

    at: datetime
    fingerprint: str
    labels: dict[str, str]
    key: str
    incident: str
    policy: str
    reason: str
    merged: tuple[str, ...] = ()
    moved_from: str | None = None  # policy "moved": the incident it was taken out of


Probe = Callable[[TriageContext, AlertEvent, IncidentState, str, str, list[IncidentState]], None]


class Recorder:
    """The journal of a replay: every placement, in order."""

    def __init__(self, probe: Probe | None = None):
        self.placements: list[Placement] = []
        self.probe = probe

    def placed(
        self,
        ctx: TriageContext,
        event: AlertEvent,
        incident: IncidentState,
        policy: str,
        reason: str,
        merged: list[IncidentState],
    ) -> None:
        if self.probe is not None:
            self.probe(ctx, event, incident, policy, reason, merged)
        self.placements.append(
            Placement(
                event.alert.received_at,
                event.fingerprint,
                event.alert.labels,
                event.boundary,
                incident.id,
                policy,
                reason,
                tuple(m.id for m in merged),
            )
        )

    def moved(
        self,
        ctx: TriageContext,
        source: IncidentState,
        target: IncidentState,
        fps: list[str],
        reason: str,
    ) -> None:
        at = from_ms(ctx.state.time)
        for fp in fps:
            shown = source.members.get(fp)
            labels = codec.read_member(shown).labels if shown is not None else {}
            self.placements.append(
                Placement(at, fp, labels, "", target.id, "moved", reason, moved_from=source.id)
            )


@dataclass
class Run:
    """What one config did with the history."""

    alerts_in: int
    # Each alert's first arrival: how long people waited for a page counts from it.
    first_seen: dict[str, datetime]
    revisions: list[tuple[datetime, Incident]] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    paging: Paging = field(default_factory=Paging)
    # Alerts a correlation step failed on, which the worker would quarantine.
    set_aside: list[tuple[Alert, str]] = field(default_factory=list)

    @property
    def unique_alerts(self) -> int:
        return len(self.first_seen)

    def latest(self) -> dict[str, Incident]:
        """The newest revision of every incident emitted."""
        latest: dict[str, Incident] = {}
        for _, incident in self.revisions:
            latest[incident.id] = incident
        return latest

    def final(self) -> Callable[[str], str]:
        """Incident id → the incident it was (eventually) merged into, or itself."""
        into = {m: p.incident for p in self.placements for m in p.merged}

        def follow(incident: str) -> str:
            seen = set()
            while incident in into and incident not in seen:
                seen.add(incident)
                incident = into[incident]
            return incident

        return follow

    def grouping(self) -> dict[str, str]:
        """Fingerprint → the incident its last placement ended up in (all
        members, however many an incident lists)."""
        final = self.final()
        return {p.fingerprint: final(p.incident) for p in self.placements}

    def summary(self, truth: dict[str, str] | None = None) -> dict[str, Any]:
        latest = self.latest()
        incidents = len(latest)
        pages = self.paging.pages
        delays = [(p.at - p.opened_at).total_seconds() for p in pages]
        kinds = Counter(n.kind for n in self.paging.notices)
        out: dict[str, Any] = {
            "alerts_in": self.alerts_in,
            "unique_alerts": self.unique_alerts,
            "incidents": incidents,
            "merged": sum(1 for i in latest.values() if i.merged_into is not None),
            "opened_and_merged_unseen": len({p.incident for p in self.placements} - set(latest)),
            "set_aside": len(self.set_aside),
            "compression": round(1 - incidents / self.alerts_in, 4) if self.alerts_in else 0.0,
            "compression_unique": (
                round(1 - incidents / self.unique_alerts, 4) if self.unique_alerts else 0.0
            ),
            "pages": len(pages),
            "pages_by_receiver": dict(sorted(Counter(p.receiver for p in pages).items())),
            "pages_by_priority": dict(sorted(Counter(p.priority for p in pages).items())),
            "updates": kinds["update"],
            "resolves": kinds["resolve"],
            "page_delay_seconds": {
                "median": round(median(delays), 1) if delays else 0.0,
                "max": round(max(delays), 1) if delays else 0.0,
            },
        }
        if truth is not None:
            scores = self.scores(truth)
            true_incidents = len({truth[fp] for fp in self.first_seen if fp in truth})
            waits = sorted(self.time_to_page(truth).values())
            out["truth"] = {
                **scores.as_dict(),
                "time_to_page_seconds": {
                    "median": round(median(waits), 1) if waits else 0.0,
                    "p90": round(waits[int(0.9 * (len(waits) - 1))], 1) if waits else 0.0,
                    "max": round(waits[-1], 1) if waits else 0.0,
                },
                "true_incidents": true_incidents,
                "ideal_compression_unique": round(1 - true_incidents / self.unique_alerts, 4)
                if self.unique_alerts
                else 0.0,
                "pages_per_true_incident": round(len(pages) / true_incidents, 3)
                if true_incidents
                else 0.0,
            }
        return out

    def time_to_page(self, truth: dict[str, str]) -> dict[str, float]:
        """True incident → seconds from its first alert's arrival to the first
        page whose revision shows one of its alerts."""
        revisions = {(i.id, i.revision): i for _, i in self.revisions}
        first: dict[str, datetime] = {}
        for fp, seen in self.first_seen.items():
            group = truth.get(fp)
            if group is not None and (group not in first or seen < first[group]):
                first[group] = seen
        paged: dict[str, float] = {}
        for page in sorted(self.paging.pages, key=lambda p: p.at):
            for alert in revisions[(page.incident_id, page.revision)].alerts:
                group = truth.get(alert.fingerprint)
                if group is not None and group not in paged:
                    paged[group] = (page.at - first[group]).total_seconds()
        return paged

    def scores(self, truth: dict[str, str]) -> Scores:
        return pairwise(truth, self.grouping())


def partition_of(key: str, partitions: int) -> int:
    """The partition aiokafka's default partitioner gives a keyed record."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


def _batches(
    keyed: Iterator[tuple[Alert, str]], partitions: int
) -> Iterator[tuple[datetime, int, list[tuple[Alert, str]]]]:
    """Consecutive alerts of one arrival time and partition: one webhook's worth."""
    batch: list[tuple[Alert, str]] = []
    current: tuple[datetime, int] | None = None
    for alert, key in keyed:
        where = (alert.received_at, partition_of(key, partitions))
        if where != current and batch:
            assert current is not None
            yield current[0], current[1], batch
            batch = []
        current = where
        batch.append((alert, key))
    if batch and current is not None:
        yield current[0], current[1], batch


async def replay(config: CorralConfig, history: History, probe: Probe | None = None) -> Run:
    """Run the history through ``config``'s triage, scoring and routing."""
    settings = config.triage
    recorder = Recorder(probe)
    chain = build_chain(settings, INCIDENTS, STATE, recorder)
    for stage in chain.stages:
        if isinstance(stage, ScoringStage):
            await stage.load_model()
    notify = NotifySimulation(config.notify)
    first_seen: dict[str, datetime] = {}
    for alert in history.alerts:
        first_seen.setdefault(alert.fingerprint, alert.received_at)
    run = Run(len(history.alerts), first_seen)
    states: dict[int, PartitionState] = {}

    changelogs: dict[int, dict[str, Any]] = {}

    async def process(ctx: TriageContext, at: datetime) -> None:
        await chain.process(ctx)
        changelog = changelogs.setdefault(ctx.partition, {})
        for record in ctx.records:
            if record.topic == INCIDENTS:
                listed = record.value
                assert isinstance(listed, codec.Listed)
                # As notify reads it: the record lists the members.
                incident = Incident.from_bytes(listed.to_bytes())
                run.revisions.append((at, incident))
                notify.offer(incident, at)
            else:
                changelog[str(record.key)] = record.value

    async def process_batch(partition: int, batch: list[tuple[Alert, str]], at: datetime) -> None:
        """As the worker does: an alert a correlation step fails on is set
        aside, and the batch runs again without it on the state restored
        from the changelog."""
        while True:
            placed = len(recorder.placements)
            reader = _Reader(batch)
            state = states.setdefault(partition, PartitionState())
            try:
                await process(TriageContext(partition, state, reader), at)
                return
            except AlertFailed as failure:
                assert reader.current is not None
                culprit = reader.current
                run.set_aside.append((culprit[0], repr(failure.__cause__ or failure)))
                batch = [item for item in batch if item is not culprit]
                del recorder.placements[placed:]
                states[partition] = _restore(changelogs.get(partition, {}), settings)

    async def run_timers(until: datetime, inclusive: bool = False) -> None:
        """Ticks at each timer's due time before ``until``, earliest first."""
        limit = round(until.timestamp() * 1000)
        while True:
            due = [
                (state.timers[0][0], partition)
                for partition, state in states.items()
                if state.timers
                and (state.timers[0][0] < limit or (inclusive and state.timers[0][0] == limit))
            ]
            if not due:
                return
            at_ms, partition = min(due)
            at = from_ms(at_ms)
            await process(TriageContext(partition, states[partition], now=at), at)

    last: datetime | None = None
    keyed = history.keyed(config.ingest.key_labels)
    for at, partition, batch in _batches(keyed, config.kafka.partitions):
        await run_timers(at)
        await process_batch(partition, batch, at)
        last = at
    if last is not None:
        await run_timers(last + _horizon(config), inclusive=True)
    notify.deliver_until(None)
    run.placements = recorder.placements
    run.paging = notify.paging
    return run


class _Reader:
    """A batch's alerts, remembering the one being read."""

    def __init__(self, batch: list[tuple[Alert, str]]):
        self.batch = batch
        self.current: tuple[Alert, str] | None = None

    def __iter__(self) -> Iterator[tuple[Alert, str]]:
        for item in self.batch:
            self.current = item
            yield item
        self.current = None


def _restore(changelog: dict[str, Any], settings: TriageSettings) -> PartitionState:
    loader = PartitionRestorer(
        duration_ms(settings.flapping.settle), duration_ms(settings.lifecycle.retention)
    )
    for key, value in changelog.items():
        loader.apply(key, None if value is None else value.to_bytes())
    return loader.build()


def _horizon(config: CorralConfig) -> timedelta:
    """After the last alert, long enough for every pending revision to come out."""
    triage = config.triage
    return (
        triage.causes.hold
        + triage.lifecycle.resolve_timeout
        + triage.lifecycle.quiet_period
        + triage.flapping.settle
        + timedelta(seconds=1)
    )
