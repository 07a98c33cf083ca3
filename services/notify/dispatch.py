"""Running deliveries off the consume loop, each when it is due, and recording how they end.

The consume loop only admits revisions into the sent log (acknowledged
before the commit); deliveries then run as tasks of their own, so a slow or
failing receiver never holds up a batch, a commit, or any other receiver.
At most one delivery per sent-log entry runs at a time, keeping the
revisions one receiver sees in order; a revision admitted meanwhile goes
next. What is due later (``group_wait``, a silence, ``repeat_interval``)
and entries to forget wait in schedules that the loop's tick looks at.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

import structlog

from services.notify import transitions
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.escalation import EscalationWindows
from services.notify.metrics import DEAD_LETTERS, NOTIFICATIONS, NOTIFICATIONS_PER_INCIDENT
from services.notify.outcomes import delivery_outcome
from services.notify.pipeline import DeliveryPipeline, Failed, Job, Outcome, Sent, Skipped, label
from services.notify.sentlog import SentLog
from services.notify.silences import SilenceStore
from services.notify.targets import Targets
from shared.messages import DeadLetter, DeliveryOutcome, IncidentStatus
from shared.retrying import Stopping

log = structlog.get_logger(__name__)

RETRY_UNEXPECTED = timedelta(seconds=30)
RECEIVER_GONE = "receiver integration no longer configured"


class Schedule:
    """Entries by the time something is due for them; stale items are checked
    against the entry when they come up."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, EntryKey]] = []
        self._order = itertools.count()

    def add(self, when: datetime, key: EntryKey) -> None:
        heapq.heappush(self._heap, (when.timestamp(), next(self._order), key))

    def due(self, now: datetime) -> Iterator[EntryKey]:
        limit = now.timestamp()
        while self._heap and self._heap[0][0] <= limit:
            yield heapq.heappop(self._heap)[2]


class Dispatcher:
    def __init__(
        self,
        sent: SentLog,
        pipeline: DeliveryPipeline,
        targets: Targets,
        silences: SilenceStore,
        dead_letter: Callable[[DeadLetter], Awaitable[None]],
        retention: timedelta,
        outcome: Callable[[DeliveryOutcome], Awaitable[None]] | None = None,
        windows: EscalationWindows | None = None,
    ):
        self.sent = sent
        self.pipeline = pipeline
        self.targets = targets
        self.silences = silences
        self.dead_letter = dead_letter
        self.retention = retention
        self.outcome = outcome
        self.windows = windows or EscalationWindows()
        self.tasks: dict[EntryKey, asyncio.Task[None]] = {}
        self._due = Schedule()
        self._expiry = Schedule()
        # Entries whose delivery ran while silences changed: looked at once it ends.
        self._recheck: set[EntryKey] = set()

    def track(self, key: EntryKey, entry: SentLogEntry) -> None:
        """Schedule what the entry, as it now is, waits for."""
        if entry.due_at is not None:
            self._due.add(entry.due_at, key)
        expiry = transitions.expires_at(entry, self.retention)
        if expiry is not None:
            self._expiry.add(expiry, key)

    async def restored(self, partitions: Iterable[int]) -> None:
        """Schedule the restored entries. Those of receiver integrations the
        config no longer has are dead-lettered at once if work was pending,
        and forgotten (tombstoned) otherwise."""
        now = datetime.now(UTC)
        gone = []
        for partition in partitions:
            for key, entry in self.sent.partition_entries(partition):
                if entry.attempting:
                    log.warning(
                        "resuming a delivery a stopped worker left unfinished",
                        key=key.key,
                        revision=entry.attempting,
                    )
                if self.targets.integration(entry.receiver, entry.integration) is None:
                    if entry.due_at is None and not entry.attempting:
                        self.sent.delete(key)
                        gone.append(key)
                        continue
                    entry = transitions.woken(entry, now)  # nothing to wait for
                    self.sent.put(key, entry)
                self.track(key, entry)
        if gone:
            await self.sent.save(gone)

    def admitted(self, keys: Iterable[EntryKey]) -> None:
        """Schedule entries the consume loop changed (revisions, actions)."""
        for key in keys:
            entry = self.sent.get(key)
            if entry is not None:
                self.track(key, entry)

    def silences_changed(self, now: datetime) -> None:
        """Muted entries, and paged incidents a silence now covers (their
        receivers that have acknowledgements get one), are due now."""
        for key, entry in self.sent.entries():
            if key in self.tasks:
                self._recheck.add(key)
            else:
                self._wake(key, entry, now)

    def _wake(self, key: EntryKey, entry: SentLogEntry, now: datetime) -> None:
        acknowledges = self.targets.acknowledges(entry)
        if transitions.wakes(
            entry,
            acknowledges,
            acknowledges
            and entry.incident is not None
            and self.silences.muting(entry.incident, now) is not None,
        ):
            woken = transitions.woken(entry, now)
            self.sent.put(key, woken)
            self.track(key, woken)

    def start_due(self, now: datetime) -> None:
        for key in self._due.due(now):
            if key in self.tasks:
                continue  # looked at again when the running delivery ends
            entry = self.sent.get(key)
            if entry is None or entry.due_at is None or entry.due_at > now:
                continue  # rescheduled since; a later item stands for it
            if entry.incident is None:
                continue
            plan = self.targets.plan(entry)
            if plan is None:
                self.tasks[key] = asyncio.create_task(self._abandon(key, entry))
                continue
            job = self.targets.job(key, entry, plan, now)
            if job is None:  # nothing due after all (people acted, a step was paused)
                later = transitions.rescheduled(entry, plan, now)
                self.sent.put(key, later)
                self.track(key, later)
                continue
            held = self._held(job, now)
            if held is not None:
                self._due.add(held, key)
                continue
            self.tasks[key] = asyncio.create_task(self._deliver(key, job))

    async def intending(self, keys: Iterable[EntryKey], now: datetime) -> list[Job]:
        """The deliveries of entries just changed (``keys``, not yet saved)
        that start at once and that the checks let through, with their intent
        put in the sent log: the save that makes the change durable carries
        it, one record and one wait fewer before the receiver gets it. Start
        them with ``start`` once that save is acknowledged; the rest is left
        to ``start_due``."""
        jobs = []
        for key in keys:
            entry = self.sent.get(key)
            if key in self.tasks or entry is None or entry.due_at is None or entry.due_at > now:
                continue
            plan = self.targets.plan(entry)
            if plan is None or entry.incident is None:
                continue
            job = self.targets.job(key, entry, plan, now)
            if job is None or self._held(job, now) is not None:
                continue
            job, result = await self.pipeline.checked(job)
            if isinstance(result, Job):
                self.sent.put(key, transitions.intended(entry, result.incident.revision))
                jobs.append(result)
        return jobs

    def start(self, jobs: Iterable[Job]) -> None:
        """Deliver what ``intending`` gave, its intent acknowledged; not a job
        whose entry was put back meanwhile (the broker refused its save)."""
        for job in jobs:
            entry = self.sent.get(job.key)
            if (
                job.key in self.tasks
                or entry is None
                or entry.incident is not job.incident
                or entry.attempting != job.incident.revision
            ):
                continue
            self.tasks[job.key] = asyncio.create_task(self._deliver(job.key, job, True))

    def _held(self, job: Job, now: datetime) -> datetime | None:
        """Until when an escalation window holds the step the job pages, if one does."""
        policy = job.plan.route.escalation
        if job.step is None or policy is None:
            return None
        return self.windows.held_until(policy.name, job.step, now)

    async def expire(self, now: datetime) -> int:
        """Forget (tombstone) the entries whose retention passed; how many."""
        forgotten = []
        for key in self._expiry.due(now):
            entry = self.sent.get(key)
            running = key in self.tasks
            if not running and entry and transitions.forgotten(entry, self.retention, now):
                self.sent.delete(key)
                forgotten.append(key)
        if forgotten:
            await self.sent.save(forgotten)
        return len(forgotten)

    async def _deliver(self, key: EntryKey, job: Job, checked: bool = False) -> None:
        try:
            job, outcome = await self.pipeline.run(job, checked)
            if isinstance(outcome, Failed):
                await self.dead_letter(
                    DeadLetter(
                        incident=job.incident,
                        partition=key.partition,
                        receiver=job.receiver,
                        integration=job.integration.name,
                        reason=str(outcome.error),
                        retryable=outcome.error.retryable,
                        attempts=outcome.attempts,
                        first_attempt_at=outcome.first_attempt_at,
                        last_attempt_at=outcome.last_attempt_at,
                    )
                )
                DEAD_LETTERS.labels(job.receiver).inc()
            NOTIFICATIONS.labels(job.receiver, job.integration.name, label(outcome)).inc()
            ended = datetime.now(UTC)
            told = delivery_outcome(job, outcome, ended)
            if told is not None and self.outcome is not None:
                await self.outcome(told)
            entry = await self._record(
                key, lambda current: transitions.recorded(current, job, outcome, ended)
            )
            if entry is not None and _ends_incident(job, outcome):
                NOTIFICATIONS_PER_INCIDENT.labels(job.receiver).observe(entry.notifications)
        except Stopping:
            pass  # the next owner of the partition resumes from the sent log
        except Exception:
            log.exception("delivery failed unexpectedly; trying again later", key=key.key)
            self._due.add(datetime.now(UTC) + RETRY_UNEXPECTED, key)
        finally:
            self._ended(key)

    async def _abandon(self, key: EntryKey, entry: SentLogEntry) -> None:
        """Work for a receiver integration the config no longer has: dead-lettered,
        so ``corral dlq replay`` can still deliver it once the receiver is back,
        and the entry forgotten."""
        assert entry.incident is not None
        incident = entry.incident
        now = datetime.now(UTC)
        log.warning(RECEIVER_GONE + "; dead-lettering its delivery", key=key.key)
        try:
            await self.dead_letter(
                DeadLetter(
                    incident=incident,
                    partition=key.partition,
                    receiver=entry.receiver,
                    integration=entry.integration,
                    reason=RECEIVER_GONE,
                    retryable=False,
                    attempts=0,
                    first_attempt_at=now,
                    last_attempt_at=now,
                )
            )
            DEAD_LETTERS.labels(entry.receiver).inc()
            NOTIFICATIONS.labels(entry.receiver, entry.integration, "failed").inc()
            # Dead-lettered: nothing is left to do for it.
            self.sent.delete(key)
            await self.sent.save([key])
        except Stopping:
            pass
        finally:
            self._ended(key)

    async def _record(
        self, key: EntryKey, change: Callable[[SentLogEntry], SentLogEntry]
    ) -> SentLogEntry | None:
        current = self.sent.get(key)
        if current is None:
            return None  # the partition went to another worker
        entry = change(current)
        self.sent.put(key, entry)
        await self.sent.save([key])
        self.track(key, entry)
        return entry

    def _ended(self, key: EntryKey) -> None:
        self.tasks.pop(key, None)
        if key in self._recheck:
            self._recheck.discard(key)
            entry = self.sent.get(key)
            if entry is not None:
                self._wake(key, entry, datetime.now(UTC))

    async def stop(self, partitions: set[int] | None = None, grace: float = 0.0) -> None:
        """Let deliveries of ``partitions`` (all if None) finish within ``grace``, then
        cancel the rest; their intents stay in the sent log for the next owner."""
        tasks = [
            t for key, t in self.tasks.items() if partitions is None or key.partition in partitions
        ]
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _ends_incident(job: Job, outcome: Outcome) -> bool:
    """The last notification of an incident for this receiver: its resolve,
    sent or not wanted (``send_resolved: false``) by a receiver that was told of it."""
    if job.responding or job.incident.status != IncidentStatus.RESOLVED:
        return False
    if isinstance(outcome, Sent):
        return True
    return (
        isinstance(outcome, Skipped)
        and outcome.reason == "skipped_resolved"
        and job.entry.notifications > 0
    )
