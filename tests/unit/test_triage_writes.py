"""What the triage worker writes for a batch, and in which order: a new
owner's mark, then the revisions, then the state that records them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from services.triage.config import TriageConfig
from services.triage.statelog import OWNER_KEY, PartitionRestorer
from services.triage.worker import OutputsFirst, TriageWorker
from shared.kafka.publisher import Publisher, Record, Refusal
from shared.messages import Alert, Incident
from tests.triage import alert

CONFIG = TriageConfig.model_validate({"triage": {"growth_hold": "0s"}})
TOPICS = CONFIG.kafka.topics
INPUT = TopicPartition(TOPICS.alerts, 0)


class Capture(Publisher):
    """Each publish the worker waits on, as (topic, key) pairs."""

    def __init__(self, _producer: Any, **_limits: Any):
        self.phases: list[list[tuple[str, str | None]]] = []
        self.records: list[Record] = []

    async def publish(
        self, records: Iterable[Record], refused: list[Refusal] | None = None
    ) -> None:
        written = list(records)
        self.phases.append([(r.topic, r.key) for r in written])
        self.records.extend(written)


class Writes(OutputsFirst, Capture):
    pass


def batch(alerts: list[Alert], first: int) -> dict[TopicPartition, list[ConsumerRecord]]:
    records = []
    for offset, a in enumerate(alerts, first):
        value = a.to_bytes()
        records.append(ConsumerRecord(*INPUT, offset, 0, 0, b"c1", value, None, 2, len(value), []))
    return {INPUT: records}


class Owner:
    """A triage worker owning partition 0, its state restored from ``written``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, written: list[Record]):
        self.worker = TriageWorker(CONFIG)
        self.writes = Writes(None, TOPICS.triage_state)
        self.offset = 0

        async def restore(partitions: set[int]) -> None:
            restorer = PartitionRestorer(60_000, 3_600_000)
            for record in written:
                if record.topic == TOPICS.triage_state:
                    assert record.key is not None
                    value = None if record.value is None else record.value.to_bytes()
                    restorer.apply(record.key, value)
            self.worker.partitions.update({p: restorer.build() for p in partitions})

        monkeypatch.setattr(self.worker.state, "restore", restore)

    async def assigned(self) -> None:
        await self.worker.on_assigned({INPUT})

    async def send(self, *alerts: Alert, offset: int | None = None) -> list[Incident]:
        """One batch, from ``offset`` (default: after the last), written."""
        first = self.offset if offset is None else offset
        records = await self.worker.handle(batch(list(alerts), first))
        self.offset = first + len(alerts)
        await self.writes.publish(records)
        return [
            Incident.from_bytes(r.value.to_bytes())
            for r in records
            if r.topic == TOPICS.incidents and r.value is not None
        ]


DB = {"alertname": "PrimaryDatabaseDown", "cluster": "c1", "namespace": "db"}
WEB = {"alertname": "HighErrorRate", "cluster": "c1", "namespace": "web"}


async def test_a_new_owner_marks_the_partition_before_its_first_revision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = Owner(monkeypatch, [])
    await owner.assigned()
    [opened] = await owner.send(alert(DB))
    # A partition nobody owned before: nothing was read, nothing skipped.
    assert (opened.revision, opened.event) == (1, "opened")
    mark, revisions, state = owner.writes.phases
    assert mark == [(TOPICS.triage_state, OWNER_KEY)]
    assert revisions == [(TOPICS.incidents, opened.id)]
    assert {topic for topic, _ in state} == {TOPICS.triage_state}
    await owner.send(alert(WEB, at=1))
    assert OWNER_KEY not in {key for _, key in owner.writes.phases[-1]}


async def test_a_later_owner_numbers_past_what_the_one_before_left_unrecorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = Owner(monkeypatch, [])
    await first.assigned()
    [db] = await first.send(alert(DB))
    recorded = len(first.writes.records)
    web = alert(WEB, at=1)
    [opened] = await first.send(web)
    # Killed once its revisions were acknowledged, before its state was.
    del first.writes.records[recorded + 1 :]

    second = Owner(monkeypatch, first.writes.records)
    await second.assigned()
    joined = alert({**DB, "alertname": "ReplicationLagHigh"}, at=2)
    again = await second.send(web, joined, offset=1)
    assert {(r.id, r.revision, r.event) for r in again} == {
        (opened.id, 2, "opened"),  # its revision 1 may be what the first wrote
        (db.id, 3, "updated"),  # past the revision 2 the first may have written
    }
