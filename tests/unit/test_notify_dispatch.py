"""notify's delivery, end to end without a broker: admission, the pipeline, the dispatcher.

The sent log is ``MemorySentLog`` (the same interface the worker writes to
Kafka through); receivers are fakes that record what they were sent. Each
test walks one path of an entry's life and checks what a receiver got and
what the sent log made durable.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from services.notify.admission import admissions
from services.notify.config import Limits, RetrySettings, Route
from services.notify.dispatch import RECEIVER_GONE, Dispatcher
from services.notify.entry import EntryKey, Phase, SentLogEntry
from services.notify.intent import IntentStage
from services.notify.limits import Limiter
from services.notify.mute import MuteStage
from services.notify.pipeline import DeliveryPipeline
from services.notify.receivers.base import Delivery, DeliveryError, Integration
from services.notify.routing import RouteNode
from services.notify.send import SendStage
from services.notify.sentlog import MemorySentLog
from services.notify.silences import SilenceStore
from services.notify.skip import SkipStage
from services.notify.targets import Targets
from shared.messages import DeadLetter, DeliveryOutcome, Incident, IncidentAlert, Silence
from shared.timeintervals import TimeIntervals
from tests.integration.notify_fakes import incident

FAST = RetrySettings(initial_backoff="1ms", max_backoff="2ms", max_elapsed="1s")
KEY = EntryKey.of(0, "inc-1", "oncall", "fake/0")


class FakeReceiver:
    """Takes deliveries (or raises what it is given), and says what the sent
    log had made durable at the moment each one arrived."""

    def __init__(
        self,
        sent: MemorySentLog,
        name: str = "fake/0",
        acknowledges: bool = False,
        errors: list[Exception] | None = None,
    ):
        self.sent = sent
        self.name = name
        self.send_resolved = True
        self.acknowledges = acknowledges
        self.errors = errors or []
        self.deliveries: list[Delivery] = []
        self.durable_at_send: list[SentLogEntry | None] = []
        self.hold: asyncio.Event | None = None

    async def notify(self, delivery: Delivery) -> None:
        saved = [entry for save in self.sent.saves for key, entry in save if key == KEY]
        self.durable_at_send.append(saved[-1] if saved else None)
        if self.hold is not None:
            await self.hold.wait()
        self.deliveries.append(delivery)
        if self.errors:
            raise self.errors.pop(0)


class Notify:
    """A notify worker's delivery side, on a sent log in memory."""

    def __init__(
        self,
        route: dict[str, Any] | None = None,
        retention: timedelta = timedelta(hours=1),
        **receiver: Any,
    ):
        self.sent = MemorySentLog()
        self.silences = SilenceStore()
        self.receiver = FakeReceiver(self.sent, **receiver)
        self.letters: list[DeadLetter] = []
        self.outcomes: list[DeliveryOutcome] = []
        root = RouteNode.build(Route.model_validate(route or {"receiver": "oncall"}))
        integrations: dict[str, list[Integration]] = {"oncall": [self.receiver]}
        self.targets = Targets(root, integrations, {"oncall": Limiter(Limits())})
        pipeline = DeliveryPipeline(
            [MuteStage(self.silences, TimeIntervals([])), SkipStage()],
            [IntentStage(self.sent), SendStage(FAST)],
        )
        self.dispatcher = Dispatcher(
            self.sent,
            pipeline,
            self.targets,
            self.silences,
            self.dead_letter,
            retention,
            self.delivered,
        )

    async def dead_letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    async def delivered(self, outcome: DeliveryOutcome) -> None:
        self.outcomes.append(outcome)

    async def admit(self, revision: Incident) -> None:
        changes = admissions(self.sent, self.targets, 0, revision, datetime.now(UTC))
        for key, entry in changes:
            self.sent.put(key, entry)
        keys = [key for key, _ in changes]
        await self.sent.save(keys)
        self.dispatcher.admitted(keys)

    async def run(self, at: datetime | None = None) -> None:
        """Start what is due (now, or at ``at``) and let it finish."""
        self.dispatcher.start_due(at or datetime.now(UTC))
        await asyncio.gather(*self.dispatcher.tasks.values())

    def silence(self, minutes: float = 60, matcher: str = 'team="storage"') -> Silence:
        now = datetime.now(UTC)
        silence = Silence(
            id="s-1",
            matchers=[matcher],
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(minutes=minutes),
            created_by="alice",
            comment="on it",
            updated_at=now,
        )
        self.silences.apply(silence.id, silence)
        return silence

    @property
    def entry(self) -> SentLogEntry:
        entry = self.sent.get(KEY)
        assert entry is not None
        return entry


async def test_a_revision_is_admitted_recorded_as_intended_then_sent_and_repeated() -> None:
    notify = Notify(route={"receiver": "oncall", "repeat_interval": "4h"})
    await notify.admit(incident(1))
    assert notify.entry.phase is Phase.DUE
    await notify.run()
    [delivery] = notify.receiver.deliveries
    assert (delivery.idempotency_key, delivery.repeat) == ("inc-1-1", False)
    # The intent was durable before the receiver got anything.
    [intent] = notify.receiver.durable_at_send
    assert intent is not None and intent.attempting == 1
    entry = notify.entry
    assert (entry.revision, entry.status, entry.attempting, entry.phase) == (
        1,
        "firing",
        0,
        Phase.DUE,
    )
    assert entry.due_at is not None and entry.sent_at is not None
    assert entry.due_at - entry.sent_at == timedelta(hours=4)
    assert notify.sent.saves[-1] == [(KEY, entry)]
    # The repeat, when due, says so and has a key of its own.
    await notify.run(at=entry.due_at)
    assert [d.repeat for d in notify.receiver.deliveries] == [False, True]
    assert notify.receiver.deliveries[1].idempotency_key.startswith("inc-1-1-repeat-")


async def test_the_first_page_waits_for_group_wait_and_a_redelivery_is_absorbed() -> None:
    notify = Notify(route={"receiver": "oncall", "group_wait": "30s"})
    first = incident(1, opened_at=datetime.now(UTC))
    await notify.admit(first)
    await notify.run()
    assert notify.receiver.deliveries == []
    await notify.admit(first)  # the batch came again after a crash
    await notify.run(at=datetime.now(UTC) + timedelta(seconds=31))
    assert [d.incident.revision for d in notify.receiver.deliveries] == [1]


async def test_a_silence_mutes_until_silences_change_then_it_is_woken() -> None:
    notify = Notify()
    notify.silence()
    await notify.admit(incident(1))
    await notify.run()
    assert notify.receiver.deliveries == []
    assert (notify.entry.phase, notify.entry.silenced_by) == (Phase.MUTED, "s-1")
    notify.silences.apply("s-1", None)  # expired early
    notify.dispatcher.silences_changed(datetime.now(UTC))
    assert notify.entry.phase is Phase.DUE
    await notify.run()
    assert [d.incident.revision for d in notify.receiver.deliveries] == [1]
    assert (notify.entry.silenced_by, notify.entry.status) == (None, "firing")


async def test_a_silence_on_a_paged_incident_acknowledges_it_once() -> None:
    notify = Notify(acknowledges=True)
    await notify.admit(incident(1))
    await notify.run()
    silence = notify.silence()
    notify.dispatcher.silences_changed(datetime.now(UTC))
    await notify.run()
    acknowledgement = notify.receiver.deliveries[-1]
    assert acknowledgement.acknowledge
    assert acknowledgement.idempotency_key.endswith("-ack")
    entry = notify.entry
    assert (entry.status, entry.phase, entry.due_at) == (
        "acknowledged",
        Phase.MUTED,
        silence.ends_at,
    )
    notify.dispatcher.silences_changed(datetime.now(UTC))  # nothing new for it
    await notify.run()
    assert len(notify.receiver.deliveries) == 2


async def test_a_resolve_is_skipped_where_no_trigger_went_and_sent_where_one_did() -> None:
    notify = Notify()
    await notify.admit(incident(2, "resolved"))
    await notify.run()
    assert notify.receiver.deliveries == []
    assert notify.entry.phase is Phase.IDLE
    other = Notify()
    await other.admit(incident(1))
    await other.run()
    await other.admit(incident(2, "resolved"))
    await other.run()
    assert [d.incident.status for d in other.receiver.deliveries] == ["firing", "resolved"]
    assert (other.entry.status, other.entry.phase) == ("resolved", Phase.IDLE)


async def test_a_revision_that_shows_nothing_new_is_not_sent_and_the_repeats_go_on() -> None:
    # Triage writes a change again under the next number after a crash.
    notify = Notify(route={"receiver": "oncall", "group_interval": "0s", "repeat_interval": "4h"})
    await notify.admit(incident(1))
    await notify.run()
    sent_at = notify.entry.sent_at
    await notify.admit(incident(3))
    await notify.run()
    assert [d.incident.revision for d in notify.receiver.deliveries] == [1]
    entry = notify.entry
    assert (entry.revision, entry.sent_at, entry.notifications) == (3, sent_at, 1)
    assert entry.due_at == entry.sent_at + timedelta(hours=4)
    await notify.run(at=entry.due_at)
    assert [(d.incident.revision, d.repeat) for d in notify.receiver.deliveries] == [
        (1, False),
        (3, True),
    ]
    await notify.admit(incident(4, "resolved"))
    await notify.run()
    assert notify.receiver.deliveries[-1].incident.status == "resolved"


async def test_a_refire_after_a_resolve_the_receiver_did_not_want_is_news() -> None:
    notify = Notify(route={"receiver": "oncall", "group_interval": "0s"})
    notify.receiver.send_resolved = False
    for revision in (incident(1), incident(2, "resolved"), incident(3)):
        await notify.admit(revision)
        await notify.run()
    assert [d.incident.revision for d in notify.receiver.deliveries] == [1, 3]


async def test_a_failed_delivery_is_dead_lettered_and_tried_again_at_the_repeat() -> None:
    notify = Notify(errors=[DeliveryError("HTTP 400", retryable=False)])
    await notify.admit(incident(1))
    await notify.run()
    [letter] = notify.letters
    assert (letter.incident.revision, letter.reason, letter.attempts) == (1, "HTTP 400", 1)
    entry = notify.entry
    assert (entry.failed, entry.revision, entry.attempting, entry.phase) == (1, 0, 0, Phase.DUE)


async def test_work_for_a_receiver_that_left_the_config_is_dead_lettered() -> None:
    notify = Notify()
    gone = EntryKey.of(0, "inc-1", "retired", "webhook/0")
    due = SentLogEntry(
        incident_id="inc-1",
        receiver="retired",
        integration="webhook/0",
        incident=incident(1),
        due_at=datetime.now(UTC),
    )
    notify.sent.put(gone, due)
    settled = EntryKey.of(0, "inc-0", "retired", "webhook/0")
    notify.sent.put(settled, due.model_copy(update={"incident_id": "inc-0", "due_at": None}))
    await notify.dispatcher.restored([0])
    assert notify.sent.get(settled) is None  # nothing pending: forgotten, not dead-lettered
    await notify.run()
    [letter] = notify.letters
    assert (letter.receiver, letter.reason, letter.attempts, letter.retryable) == (
        "retired",
        RECEIVER_GONE,
        0,
        False,
    )
    assert notify.sent.get(gone) is None  # forgotten once dead-lettered
    assert notify.sent.saves[-1] == [(gone, None)]
    await notify.run()
    assert len(notify.letters) == 1


async def test_a_revision_admitted_during_a_delivery_goes_next() -> None:
    notify = Notify({"receiver": "oncall", "group_interval": "0s"})
    notify.receiver.hold = asyncio.Event()
    await notify.admit(incident(1))
    notify.dispatcher.start_due(datetime.now(UTC))
    await asyncio.sleep(0.01)  # revision 1 is with the receiver
    await notify.admit(incident(2, priority="P2"))
    notify.dispatcher.start_due(datetime.now(UTC))  # not while 1 is running
    notify.receiver.hold.set()
    await asyncio.gather(*notify.dispatcher.tasks.values())
    assert notify.entry.revision == 1 and notify.entry.phase is Phase.DUE
    await notify.run()
    assert [d.incident.revision for d in notify.receiver.deliveries] == [1, 2]


async def test_an_intent_left_by_a_stopped_worker_is_sent_again_with_its_key() -> None:
    notify = Notify()
    notify.receiver.hold = asyncio.Event()
    await notify.admit(incident(1))
    notify.dispatcher.start_due(datetime.now(UTC))
    await asyncio.sleep(0.01)
    await notify.dispatcher.stop()  # the receiver may have it; nothing says so
    assert notify.entry.attempting == 1
    again = Notify()
    again.sent.put(KEY, notify.entry)
    await again.dispatcher.restored([0])
    await again.run()
    assert [d.idempotency_key for d in again.receiver.deliveries] == ["inc-1-1"]
    assert (again.entry.revision, again.entry.attempting) == (1, 0)


async def test_entries_are_tombstoned_a_retention_after_the_incident_resolved() -> None:
    notify = Notify(retention=timedelta(minutes=30))
    await notify.admit(incident(1))
    await notify.run()
    resolved = incident(2, "resolved")
    await notify.admit(resolved)
    await notify.run()
    assert resolved.resolved_at is not None
    assert await notify.dispatcher.expire(resolved.resolved_at + timedelta(minutes=29)) == 0
    assert await notify.dispatcher.expire(resolved.resolved_at + timedelta(minutes=30)) == 1
    assert notify.sent.get(KEY) is None and len(notify.sent) == 0
    assert notify.sent.saves[-1] == [(KEY, None)]  # the tombstone


def member(i: int) -> IncidentAlert:
    return IncidentAlert(
        fingerprint=f"pod-{i}",
        status="firing",
        labels={"alertname": "KubePodNotReady", "namespace": f"ns-{i % 2}"},
        annotations={},
    )


async def test_updates_are_coalesced_into_one_that_says_what_changed() -> None:
    notify = Notify({"receiver": "oncall", "group_interval": "5m"})
    await notify.admit(incident(1, alerts=[member(0)]))
    await notify.run()
    for revision in (2, 3):
        await notify.admit(incident(revision, alerts=[member(i) for i in range(revision * 2)]))
        await notify.run()
    assert len(notify.receiver.deliveries) == 1  # held: the last one went out just now
    assert notify.entry.due_at is not None
    await notify.run(at=notify.entry.due_at)
    first, update = notify.receiver.deliveries
    assert (first.changes, update.incident.revision) == (None, 3)
    assert update.changes is not None and update.changes.since_revision == 1
    assert update.changes.summary == "+5 alerts: KubePodNotReady in 2 namespaces"
    assert [o.status for o in notify.outcomes] == ["sent", "sent"]
    assert [o.key for o in notify.outcomes] == ["inc-1-1", "inc-1-3"]


async def test_an_incident_merged_before_its_first_page_was_due_is_never_sent() -> None:
    notify = Notify({"receiver": "oncall", "group_wait": "30s"})
    await notify.admit(incident(1, opened_at=datetime.now(UTC)))
    await notify.admit(incident(2, "resolved", merged_into="inc-9"))
    await notify.run(at=datetime.now(UTC) + timedelta(minutes=1))
    assert notify.receiver.deliveries == [] and notify.outcomes == []
    assert notify.entry.phase is Phase.IDLE


async def test_an_incident_merged_after_its_page_gets_one_final_message_at_once() -> None:
    notify = Notify({"receiver": "oncall", "group_interval": "1h"})
    await notify.admit(incident(1))
    await notify.run()
    await notify.admit(incident(2, "resolved", merged_into="inc-9"))
    await notify.run()
    _, final = notify.receiver.deliveries
    assert final.incident.merged_into == "inc-9"
    assert final.changes is not None and final.changes.summary.startswith("merged into inc-9")
    assert notify.entry.phase is Phase.IDLE
