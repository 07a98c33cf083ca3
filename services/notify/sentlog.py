"""The sent log: each receiver integration's delivery state, behind one interface.

``SentLog`` is what the worker, the dispatcher and the stages use;
``MemorySentLog`` keeps it in memory (unit tests run every stage and the
dispatcher on it, without a broker), and ``KafkaSentLog`` adds durability on
the shared state layer (``shared.kafka.state``): partition N of the
compacted ``corral.notify.sent`` holds the entries of the incidents of
partition N, restored when N is assigned, and every ``save`` is
acknowledged before anything that relies on it (a send, an offset commit).

An incident revision is nearly all of an entry, and every entry of the
revision (one per receiver integration, written at admission, intent and
outcome; admission and intent in one record when the delivery is due at
once) holds the same one: it is written once, as a record of its own
(``revision_key``) with the bytes it was read as, before the first entry
record that names it (``SentLogEntry.holds``). Its tombstone follows the last
record that named it, so a restore finds every revision its entries hold.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import structlog

from services.notify.entry import EntryKey, SentLogEntry
from shared.codec import compact, with_last
from shared.config import KafkaSettings
from shared.kafka.publisher import EncodedValue, Publisher
from shared.kafka.state import LatestValues, StateStore
from shared.messages import Incident

log = structlog.get_logger(__name__)


def revision_key(incident_id: str, revision: int) -> str:
    """A revision's record key; no entry key starts with ``#`` (incident ids
    are hex digests)."""
    return f"#{incident_id}/{revision}"


class SentLog(Protocol):
    def get(self, key: EntryKey) -> SentLogEntry | None: ...

    def put(self, key: EntryKey, entry: SentLogEntry) -> None:
        """Change an entry in memory; ``save`` makes it durable."""

    def delete(self, key: EntryKey) -> None:
        """Forget an entry in memory; ``save`` writes its tombstone."""

    def entries(self) -> Iterator[tuple[EntryKey, SentLogEntry]]:
        """Every entry of every owned partition."""

    def partition_entries(self, partition: int) -> Iterator[tuple[EntryKey, SentLogEntry]]: ...

    def for_incident(self, partition: int, incident_id: str) -> list[SentLogEntry]: ...

    def __len__(self) -> int: ...

    async def save(self, keys: Iterable[EntryKey]) -> None:
        """Make the current state of ``keys`` durable before returning."""


@dataclass(slots=True, eq=False)
class Revision:
    """A revision entries hold, with the bytes its record is to be written as
    (as it was read, or encoded); None once the record is acknowledged."""

    incident: Incident
    data: bytes | None


class Entries:
    """One partition's entries, with its incidents' entries found by id, and
    the revisions they hold: by key, with how many of the entry records
    written last name each (``named``, by entry key)."""

    def __init__(self) -> None:
        self.by_key: dict[str, SentLogEntry] = {}
        self.by_incident: dict[str, set[str]] = {}
        self.revisions: dict[str, Revision] = {}
        self.named: dict[str, str] = {}
        self.references: Counter[str] = Counter()
        # Restored revisions no entry names: tombstoned by the next save.
        self.stale: list[str] = []

    def put(self, key: str, entry: SentLogEntry) -> None:
        self.by_key[key] = entry
        self.by_incident.setdefault(entry.incident_id, set()).add(key)

    def delete(self, key: str) -> None:
        entry = self.by_key.pop(key, None)
        if entry is None:
            return
        keys = self.by_incident.get(entry.incident_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.by_incident[entry.incident_id]

    def hold(self, incident: Incident, data: bytes) -> None:
        self.revisions.setdefault(
            revision_key(incident.id, incident.revision), Revision(incident, data)
        )

    def name(self, key: str, revision: str | None) -> str | None:
        """The entry record for ``key`` now names ``revision``: the revision it
        named before, if no entry record names that one any more."""
        before = self.named.pop(key, None)
        if revision is not None:
            self.named[key] = revision
            self.references[revision] += 1
        if before is None:
            return None
        self.references[before] -= 1
        if self.references[before] > 0:
            return None
        del self.references[before]
        return before

    def held_in_memory(self, revision: Revision) -> bool:
        incident = revision.incident
        return any(
            (held := self.by_key[key].incident) is not None and held.revision == incident.revision
            for key in self.by_incident.get(incident.id, ())
        )


class EntriesRestorer(LatestValues):
    """Rebuilds one partition's entries, and the revisions they hold, from its
    changelog (``shared.kafka.state``). A revision no entry names any more
    (a crash came before its tombstone) is tombstoned by the next save."""

    def build(self) -> Entries:
        entries = Entries()
        found: list[tuple[str, SentLogEntry]] = []
        for key, value in self.decoded(_record):
            if isinstance(value, SentLogEntry):
                found.append((key, value))
            else:
                entries.revisions[key] = Revision(value, None)
        for key, entry in found:
            if entry.holds:
                revision = revision_key(entry.incident_id, entry.holds)
                held = entries.revisions.get(revision)
                if held is None:
                    log.warning("a sent log entry's revision is missing", key=key)
                else:
                    entry = entry.model_copy(update={"incident": held.incident, "holds": 0})
                entries.name(key, revision)
            entries.put(key, entry)
        entries.stale = [r for r in entries.revisions if r not in entries.references]
        return entries


def _record(key: str, value: bytes) -> SentLogEntry | Incident:
    if key.startswith("#"):
        return Incident.from_bytes(value)
    return SentLogEntry.from_bytes(value)


class MemorySentLog:
    """The sent log in memory; ``saves`` lists what each ``save`` made durable."""

    def __init__(self) -> None:
        self.partitions: dict[int, Entries] = {}
        self.saves: list[list[tuple[EntryKey, SentLogEntry | None]]] = []

    def get(self, key: EntryKey) -> SentLogEntry | None:
        entries = self.partitions.get(key.partition)
        return None if entries is None else entries.by_key.get(key.key)

    def put(self, key: EntryKey, entry: SentLogEntry) -> None:
        self.partitions.setdefault(key.partition, Entries()).put(key.key, entry)

    def delete(self, key: EntryKey) -> None:
        entries = self.partitions.get(key.partition)
        if entries is not None:
            entries.delete(key.key)

    def entries(self) -> Iterator[tuple[EntryKey, SentLogEntry]]:
        for partition in list(self.partitions):
            yield from self.partition_entries(partition)

    def partition_entries(self, partition: int) -> Iterator[tuple[EntryKey, SentLogEntry]]:
        entries = self.partitions.get(partition)
        if entries is not None:
            for key, entry in list(entries.by_key.items()):
                yield EntryKey(partition, key), entry

    def for_incident(self, partition: int, incident_id: str) -> list[SentLogEntry]:
        entries = self.partitions.get(partition)
        if entries is None:
            return []
        keys = sorted(entries.by_incident.get(incident_id, ()))
        return [entries.by_key[key] for key in keys]

    def __len__(self) -> int:
        return sum(len(entries.by_key) for entries in self.partitions.values())

    async def save(self, keys: Iterable[EntryKey]) -> None:
        self.saves.append([(key, self.get(key)) for key in dict.fromkeys(keys)])


class KafkaSentLog(MemorySentLog):
    """The sent log, restored from and written to its compacted changelog."""

    def __init__(self, settings: KafkaSettings, topic: str):
        super().__init__()
        self.store: StateStore[Entries] = StateStore(settings, topic, EntriesRestorer)
        self.partitions = self.store.partitions
        self.publisher: Publisher | None = None
        self.stopping = asyncio.Event()

    @staticmethod
    def encode(entry: SentLogEntry) -> bytes:
        """``entry``'s record: without its incident, which it names by revision."""
        if entry.incident is None:
            return entry.to_bytes()
        return with_last(
            compact(entry, {"incident", "holds"}), "holds", b"%d" % entry.incident.revision
        )

    def hold(self, partition: int, incident: Incident, data: bytes) -> None:
        """``incident``, admitted into entries of ``partition``, was read as ``data``."""
        self.partitions.setdefault(partition, Entries()).hold(incident, data)

    async def save(self, keys: Iterable[EntryKey]) -> None:
        """Write the current state of ``keys`` (tombstones for deleted ones) and
        wait for the broker's ack; ``Stopping`` if the worker stops first."""
        by_partition: dict[int, list[str]] = {}
        for key in keys:
            by_partition.setdefault(key.partition, []).append(key.key)
        assert self.publisher is not None, "start the worker first"
        publisher = self.publisher
        await asyncio.gather(
            *(self._save(publisher, p, list(dict.fromkeys(ks))) for p, ks in by_partition.items())
        )

    async def _save(self, publisher: Publisher, partition: int, keys: list[str]) -> None:
        written: list[Revision] = []

        def values() -> list[tuple[str, EncodedValue | None]]:
            entries = self.partitions.get(partition)
            if entries is None:
                return []  # no longer owned: its next owner writes what it changes
            written[:] = []
            return self._records(entries, keys, written)

        await self.store.save(publisher, partition, values, self.stopping)
        for revision in written:
            revision.data = None

    def _records(
        self, entries: Entries, keys: list[str], written: list[Revision]
    ) -> list[tuple[str, EncodedValue | None]]:
        """The records for ``keys``: each revision they hold that is not yet
        acknowledged before its first entry, tombstones of revisions no record
        names any more after the last."""
        records: list[tuple[str, EncodedValue | None]] = []
        unnamed = entries.stale
        entries.stale = []
        for key in keys:
            entry = entries.by_key.get(key)
            incident = None if entry is None else entry.incident
            name = None if incident is None else revision_key(incident.id, incident.revision)
            if incident is not None and name is not None:
                revision = entries.revisions.get(name)
                if revision is None:  # not held since it was read: encoded again
                    revision = entries.revisions[name] = Revision(incident, incident.to_bytes())
                if revision.data is not None and revision not in written:
                    records.append((name, EncodedValue(revision.data)))
                    written.append(revision)
            before = entries.name(key, name)
            if before is not None:
                unnamed.append(before)
            records.append((key, None if entry is None else EncodedValue(self.encode(entry))))
        for name in unnamed:
            revision = entries.revisions.get(name)
            if name not in entries.references and (
                revision is None or not entries.held_in_memory(revision)
            ):
                entries.revisions.pop(name, None)
                records.append((name, None))
        return records

    async def restore(self, partitions: set[int]) -> None:
        await self.store.restore(partitions)

    def drop(self, partitions: set[int]) -> None:
        self.store.drop(partitions)
