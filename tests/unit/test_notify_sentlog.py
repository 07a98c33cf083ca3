"""The sent log's records: each revision written once, named by its entries,
tombstoned after the last record that names it; a restore from what was
written gives back every entry with the revision it holds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from services.notify.entry import EntryKey, SentLogEntry
from services.notify.sentlog import Entries, EntriesRestorer, KafkaSentLog, revision_key
from shared.config import KafkaSettings
from shared.kafka.publisher import Pending, Record
from shared.messages import Incident
from tests.integration.notify_fakes import incident

RECEIVERS = ("oncall", "chat", "audit")


class Changelog:
    """The publisher the sent log writes through: keeps every record, in order."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None]] = []

    async def queue(self, records: Iterable[Record], refused: object = None) -> list[Pending]:
        for record in records:
            value = None if record.value is None else record.value.to_bytes()
            self.records.append((record.key or "", value))
        return []

    async def acknowledged(self, pending: list[Pending]) -> None:
        return None

    def restored(self) -> Entries:
        restorer = EntriesRestorer()
        for key, value in self.records:
            restorer.apply(key, value)
        return restorer.build()

    def keys(self) -> list[str]:
        return [key for key, _ in self.records]


def sent_log() -> tuple[KafkaSentLog, Changelog]:
    sent = KafkaSentLog(KafkaSettings(), "sent")
    changelog = Changelog()
    sent.publisher = changelog  # type: ignore[assignment]
    return sent, changelog


def admit(sent: KafkaSentLog, revision: Incident, receivers: Iterable[str]) -> list[EntryKey]:
    """As the worker admits a revision it read: entries hold it, it is held with its bytes."""
    keys = []
    for receiver in receivers:
        key = EntryKey.of(0, revision.id, receiver, "webhook/0")
        before = sent.get(key)
        entry = before or SentLogEntry(
            incident_id=revision.id, receiver=receiver, integration="webhook/0"
        )
        sent.put(key, entry.model_copy(update={"incident": revision}))
        keys.append(key)
    sent.hold(0, revision, revision.to_bytes())
    return keys


def held(entries: Entries) -> dict[str, int | None]:
    return {
        key: None if entry.incident is None else entry.incident.revision
        for key, entry in entries.by_key.items()
    }


def test_a_revision_is_written_once_however_many_entries_hold_it() -> None:
    sent, changelog = sent_log()
    first = incident(revision=1)
    keys = admit(sent, first, RECEIVERS)
    asyncio.run(sent.save(keys))
    sent.put(keys[0], sent.get(keys[0]).model_copy(update={"attempting": 1}))  # type: ignore[union-attr]
    asyncio.run(sent.save(keys[:1]))

    assert changelog.keys() == [revision_key(first.id, 1), *(k.key for k in keys), keys[0].key]
    restored = changelog.restored()
    assert restored.by_key == sent.partitions[0].by_key
    assert restored.by_key[keys[0].key].incident == first


def test_the_revision_entries_held_before_is_tombstoned_after_they_move_on() -> None:
    sent, changelog = sent_log()
    keys = admit(sent, incident(revision=1), RECEIVERS)
    asyncio.run(sent.save(keys))
    second = incident(revision=2)
    asyncio.run(sent.save(admit(sent, second, RECEIVERS)))

    assert changelog.keys()[-1] == revision_key(second.id, 1)
    assert changelog.records[-1][1] is None
    restored = changelog.restored()
    assert set(held(restored).values()) == {2}
    assert list(restored.revisions) == [revision_key(second.id, 2)]


def test_an_entry_that_still_holds_an_older_revision_keeps_it() -> None:
    # A receiver the newer revision no longer routes to, that has not been told yet.
    sent, changelog = sent_log()
    keys = admit(sent, incident(revision=1), RECEIVERS)
    asyncio.run(sent.save(keys))
    asyncio.run(sent.save(admit(sent, incident(revision=2), RECEIVERS[:2])))

    restored = changelog.restored()
    assert held(restored) == held(sent.partitions[0])
    assert sorted(held(restored).values()) == [1, 2, 2]  # type: ignore[type-var]


def test_forgotten_entries_take_their_revision_with_them() -> None:
    sent, changelog = sent_log()
    keys = admit(sent, incident(revision=1), RECEIVERS)
    asyncio.run(sent.save(keys))
    for key in keys:
        sent.delete(key)
    asyncio.run(sent.save(keys))

    restored = changelog.restored()
    assert restored.by_key == {}
    assert restored.revisions == {}


def test_a_revision_no_entry_names_is_tombstoned_by_the_next_save_after_a_restore() -> None:
    # A crash between the entries moving on and the tombstone.
    _, changelog = sent_log()
    revision = incident(revision=1, id="gone")
    changelog.records.append((revision_key(revision.id, 1), revision.to_bytes()))
    sent, _ = sent_log()
    sent.publisher = changelog  # type: ignore[assignment]
    sent.partitions[0] = changelog.restored()
    asyncio.run(sent.save(admit(sent, incident(revision=1), RECEIVERS[:1])))

    assert changelog.restored().revisions.keys() == {revision_key("inc-1", 1)}


def test_an_entry_written_with_its_incident_restores_as_it_was() -> None:
    # Records of version 3 carry the incident in every entry.
    _, changelog = sent_log()
    entry = SentLogEntry(
        schema_version=3,
        incident_id="inc-1",
        receiver="oncall",
        integration="webhook/0",
        revision=1,
        status="firing",
        incident=incident(revision=1),
    )
    changelog.records.append(("inc-1/oncall/webhook/0", entry.to_bytes()))

    assert changelog.restored().by_key == {"inc-1/oncall/webhook/0": entry}
