"""What a notify worker writes for a first page, and in how many round trips,
and that a worker killed between those writes still pages exactly once.

The worker runs as in production (``NotifyWorker.handle``, its dispatcher,
a webhook receiver) on a publisher without a broker that keeps every record
and counts each produce the worker waits for (a round trip).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from services.notify.config import NotifyConfig
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.receivers import webhook
from services.notify.sentlog import EntriesRestorer, revision_key
from services.notify.worker import NotifyWorker
from shared.kafka.publisher import Pending, Record, Refusal
from shared.messages import DeliveryOutcome, Incident, Silence
from tests.integration.notify_fakes import incident

CONFIG = {
    "notify": {
        "route": {"receiver": "oncall"},
        "receivers": [{"name": "oncall", "webhook_configs": [{"url": "http://127.0.0.1:9/hook"}]}],
    }
}
ENTRY = "inc-1/oncall/webhook/0"


class Broker:
    """Every record written, in order, and the produces written in (each one a wait)."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.produces: list[list[tuple[str, str | None]]] = []

    def _write(self, records: Iterable[Record]) -> None:
        produce = list(records)
        self.records.extend(produce)
        self.produces.append([(r.topic, r.key) for r in produce])

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

    def sent_log(self, worker: NotifyWorker, upto: int | None = None) -> list[Record]:
        topic = worker.config.kafka.topics.notify_sent
        return [r for r in self.records[:upto] if r.topic == topic]


class Webhook:
    """The receiver: the idempotency key of each request it took, and how
    many records were written when it arrived. ``hang`` holds every request
    (a worker killed while sending)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.keys: list[str] = []
        self.written_at_send: list[int] = []
        self.hang = False

    async def post(self, _session: Any, _url: str, _body: bytes, headers: Any, *_: Any) -> None:
        self.written_at_send.append(len(self.broker.records))
        if self.hang:
            await asyncio.Event().wait()
        self.keys.append(headers["Idempotency-Key"])


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Webhook:
    hook = Webhook(Broker())
    monkeypatch.setattr(webhook, "post_json", hook.post)
    return hook


def start(session: aiohttp.ClientSession, broker: Broker) -> NotifyWorker:
    worker = NotifyWorker(NotifyConfig.model_validate(CONFIG))
    worker.assemble(session, broker)  # type: ignore[arg-type]
    return worker


async def handle(worker: NotifyWorker, revision: Incident, offset: int = 0) -> None:
    """One batch with ``revision``."""
    topic = worker.config.kafka.topics.incidents
    value = revision.to_bytes()
    record = ConsumerRecord(topic, 0, offset, 0, 0, None, value, None, 0, len(value), [])
    await worker.handle({TopicPartition(topic, 0): [record]})


async def consume(worker: NotifyWorker, revision: Incident, offset: int = 0) -> None:
    """One batch with ``revision``, and every delivery it starts run to its end."""
    await handle(worker, revision, offset)
    await settle(worker)


async def settle(worker: NotifyWorker) -> None:
    assert worker.dispatcher is not None
    while worker.dispatcher.tasks:
        await asyncio.gather(*worker.dispatcher.tasks.values())


async def restarted(session: aiohttp.ClientSession, broker: Broker, upto: int) -> NotifyWorker:
    """A worker that takes over partition 0 from the sent log as written up to ``upto``."""
    worker = start(session, broker)
    restorer = EntriesRestorer()
    for record in broker.sent_log(worker, upto):
        assert record.key is not None
        restorer.apply(record.key, None if record.value is None else record.value.to_bytes())
    worker.sent.partitions[0] = restorer.build()
    assert worker.dispatcher is not None
    await worker.dispatcher.restored({0})
    worker.dispatcher.start_due(datetime.now(UTC))
    return worker


async def test_a_first_page_is_three_writes_the_first_holding_the_intent(
    receiver: Webhook,
) -> None:
    broker = receiver.broker
    async with aiohttp.ClientSession() as session:
        worker = start(session, broker)
        await consume(worker, incident(1))

    topics = worker.config.kafka.topics
    assert receiver.keys == ["inc-1-1"]
    # The revision and its entry with the intent in one produce, before the
    # send; after it, the outcome, then the entry that records it.
    assert broker.produces == [
        [(topics.notify_sent, revision_key("inc-1", 1)), (topics.notify_sent, ENTRY)],
        [(topics.notify_outcomes, "inc-1")],
        [(topics.notify_sent, ENTRY)],
    ]
    assert receiver.written_at_send == [2]
    admitted = broker.records[1].value
    assert admitted is not None and SentLogEntry.from_bytes(admitted.to_bytes()).attempting == 1
    [outcome] = [r.value for r in broker.records if r.topic == topics.notify_outcomes]
    assert isinstance(outcome, DeliveryOutcome) and outcome.key == "inc-1-1"
    entry = worker.sent.get(EntryKey(0, ENTRY))
    assert entry is not None and (entry.revision, entry.attempting) == (1, 0)


async def test_a_worker_killed_after_the_admission_pages_once_through_its_successor(
    receiver: Webhook,
) -> None:
    broker = receiver.broker
    async with aiohttp.ClientSession() as session:
        first = start(session, broker)
        receiver.hang = True  # killed with the request on its way, not yet taken
        await handle(first, incident(1))
        await asyncio.sleep(0)
        assert first.dispatcher is not None
        await first.dispatcher.stop()
        assert (receiver.keys, receiver.written_at_send) == ([], [2])  # it was on its way
        durable = len(broker.records)

        receiver.hang = False
        second = await restarted(session, broker, durable)
        await settle(second)
        await consume(second, incident(1))  # its offset may not have been committed

    assert receiver.keys == ["inc-1-1"]


async def test_a_worker_killed_after_the_send_sends_again_with_the_same_key(
    receiver: Webhook,
) -> None:
    # The one window: the receiver took it, the outcome was not recorded yet.
    broker = receiver.broker
    async with aiohttp.ClientSession() as session:
        first = start(session, broker)
        await consume(first, incident(1))
        [at_send] = receiver.written_at_send
        second = await restarted(session, broker, at_send)
        await settle(second)
        await consume(second, incident(1))

    assert receiver.keys == ["inc-1-1", "inc-1-1"]


async def test_an_update_due_at_once_is_admitted_with_its_intent_too(receiver: Webhook) -> None:
    broker = receiver.broker
    config = {**CONFIG["notify"], "route": {"receiver": "oncall", "group_interval": "0s"}}
    async with aiohttp.ClientSession() as session:
        worker = NotifyWorker(NotifyConfig.model_validate({"notify": config}))
        worker.assemble(session, broker)  # type: ignore[arg-type]
        await consume(worker, incident(1))
        before = len(broker.produces)
        await consume(worker, incident(2, priority="P2"), offset=1)

    assert receiver.keys == ["inc-1-1", "inc-1-2"]
    sent = worker.config.kafka.topics.notify_sent
    # The new revision, its entry with the intent, the old revision's tombstone.
    assert broker.produces[before] == [
        (sent, revision_key("inc-1", 2)),
        (sent, ENTRY),
        (sent, revision_key("inc-1", 1)),
    ]
    assert len(broker.produces) - before == 3


async def test_a_silenced_first_page_is_admitted_without_an_intent(receiver: Webhook) -> None:
    # The receiver never gets it: a later resolve must not be sent to it either.
    broker = receiver.broker
    now = datetime.now(UTC)
    silence = Silence(
        id="s-1",
        matchers=['team="storage"'],
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        created_by="alice",
        comment="on it",
        updated_at=now,
    )
    async with aiohttp.ClientSession() as session:
        worker = start(session, broker)
        worker.silences.apply(silence.id, silence)
        await consume(worker, incident(1))
        await consume(worker, incident(2, status="resolved"), offset=1)

    assert receiver.keys == []
    [admitted, *_] = [r.value for r in broker.sent_log(worker) if r.key == ENTRY]
    assert admitted is not None and SentLogEntry.from_bytes(admitted.to_bytes()).attempting == 0
    entry = worker.sent.get(EntryKey(0, ENTRY))
    assert entry is not None and not entry.had_trigger
