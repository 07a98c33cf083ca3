"""The incident store: a view of ``corral.incidents``, ``corral.actions`` and
``corral.notify.outcomes``, kept in SQLite or PostgreSQL.

Every batch of records is applied in one transaction together with the next
offset of each partition it came from, so the store knows exactly how far it
has read: a worker resumes from the store's own positions (not the consumer
group's), a redelivered record is recognized by its event id and changes
nothing, and a deleted store starts again from the beginning of the topics
and comes out the same (the lifecycle is a function of the events, not of
the order they were read in).
"""

from __future__ import annotations

import base64
import builtins
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from services.incidents.events import (
    IN_DOCUMENT_PREFIX,
    action_event,
    encoded,
    event_id,
    in_document,
    outcome_event,
    refers_to_document,
    revision_event,
    revision_id,
)
from services.incidents.feed import Change
from services.incidents.lifecycle import (
    Event,
    EventKind,
    Lifecycle,
    SortKey,
    State,
    fold,
    replay,
)
from services.incidents.revision import Revision
from services.incidents.store.database import Database, Row, Select, Sql
from services.incidents.times import to_ms
from services.incidents.views import SUMMARY_KEYS, Describer, member, patched, summary, touched
from shared.messages import Action, DeliveryOutcome, Incident

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS corral_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS corral_positions (
        topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset BIGINT NOT NULL,
        PRIMARY KEY (topic, part))""",
    """CREATE TABLE IF NOT EXISTS corral_incidents (
        id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        state TEXT NOT NULL,
        priority TEXT NOT NULL,
        team TEXT NOT NULL,
        opened_ms BIGINT NOT NULL,
        changed_ms BIGINT NOT NULL,
        resolved_ms BIGINT,
        snoozed_until_ms BIGINT,
        summary TEXT NOT NULL,
        doc TEXT NOT NULL,
        lifecycle TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS corral_incidents_newest ON corral_incidents (opened_ms, id)",
    "CREATE INDEX IF NOT EXISTS corral_incidents_state ON corral_incidents (state, priority)",
    """CREATE TABLE IF NOT EXISTS corral_events (
        incident_id TEXT NOT NULL, event_id TEXT NOT NULL, at_ms BIGINT NOT NULL,
        kind TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (incident_id, event_id))""",
]

NOTIFY_CHANNEL = "corral_incidents"

Message = Revision | Incident | Action | DeliveryOutcome
"""What the store applies; an ``Incident`` is taken as its ``Revision``."""
TopicPartition = tuple[str, int]
Listed = tuple[dict[str, Any], int | None]
"""A summary as stored, with the end of its snooze."""


@dataclass(frozen=True)
class Applied:
    """What a batch did to one incident: its change, and the transitions that
    the response-time metrics count (set only when they happened now)."""

    change: Change
    priority: str
    team: str
    opened_ms: int
    acknowledged_ms: int | None = None
    resolved_ms: int | None = None


@dataclass
class Query:
    states: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    team: str | None = None
    since_ms: int | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass
class StoredIncident:
    incident: Incident
    lifecycle: Lifecycle
    summary: dict[str, Any]
    events: list[Event] = field(default_factory=list)


class BadCursor(ValueError):
    pass


def encode_cursor(opened_ms: int, incident_id: str) -> str:
    return base64.urlsafe_b64encode(f"{opened_ms}:{incident_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        opened, _, incident_id = text.partition(":")
        return int(opened), incident_id
    except (ValueError, UnicodeDecodeError):
        raise BadCursor(f"cursor {cursor!r} is not one this API gave out") from None


class IncidentStore:
    def __init__(self, database: Database, describer: Describer | None = None):
        self.db = database
        self.describer = describer or Describer()
        self.store_id = ""
        # Tells this process's notifications from other workers' (PostgreSQL).
        self.origin = uuid.uuid4().hex

    async def open(self) -> None:
        await self.db.open()
        async with self.db.transaction() as tx:
            for statement in SCHEMA:
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO corral_meta (key, value) VALUES ('store_id', ?) "
                "ON CONFLICT (key) DO NOTHING",
                uuid.uuid4().hex[:12],
            )
        [(self.store_id,)] = await self.db.fetch(
            "SELECT value FROM corral_meta WHERE key = 'store_id'"
        )

    async def close(self) -> None:
        await self.db.close()

    async def positions(self) -> dict[TopicPartition, int]:
        rows = await self.db.fetch("SELECT topic, part, next_offset FROM corral_positions")
        return {(topic, part): offset for topic, part, offset in rows}

    # Writing ---------------------------------------------------------------

    async def apply(
        self,
        messages: Sequence[Message],
        positions: dict[TopicPartition, int],
    ) -> list[Applied]:
        """Apply messages (in topic order per partition) and move the positions,
        all in one transaction; what changed, per incident."""
        by_incident: dict[str, list[Revision | Action | DeliveryOutcome]] = {}
        for message in messages:
            if isinstance(message, Incident):
                message = Revision.of(message)
            incident_id = message.id if isinstance(message, Revision) else message.incident_id
            by_incident.setdefault(incident_id, []).append(message)
        applied: list[Applied] = []
        async with self.db.transaction() as tx:
            if by_incident:
                applied = await self._apply(tx, by_incident)
            await tx.executemany(
                "INSERT INTO corral_positions (topic, part, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset",
                [(topic, part, offset) for (topic, part), offset in positions.items()],
            )
            if self.db.dialect == "postgresql":
                # One round trip for the batch (asyncpg pipelines executemany),
                # not one an incident; delivered at commit, in this order.
                await tx.executemany(
                    "SELECT pg_notify(?, ?)",
                    [(NOTIFY_CHANNEL, self._notification(result.change)) for result in applied],
                )
        return applied

    async def _apply(
        self, tx: Sql, by_incident: dict[str, list[Revision | Action | DeliveryOutcome]]
    ) -> list[Applied]:
        """A batch in a handful of statements, whatever the number of incidents."""
        read = await self._read(tx, by_incident)
        held = read.held
        # The incidents a revision of this batch changes, with the latest; the
        # revision held is read only for them.
        revised: dict[str, Revision] = {}
        candidates: list[Event] = []
        # First revisions whose event refers to the document for its members
        # (``events.in_document``): by the index of their event if the
        # document is to be theirs, else the held ones this batch replaces.
        first: dict[str, int] = {}
        replaced: dict[str, Revision] = {}
        for incident_id, messages in by_incident.items():
            previous = held.get(incident_id)
            current = None
            for message in messages:
                if isinstance(message, Revision):
                    if current is None and previous is not None:
                        current = previous.incident
                        replaced[incident_id] = current
                    # A revision no newer than the one held is a redelivery, or
                    # a dead letter replayed onto the topic: nothing new.
                    if current is not None and message.revision <= current.revision:
                        continue
                    if current is None:
                        first[incident_id] = len(candidates)
                        candidates.append(in_document(revision_event(message, None)))
                    else:
                        if incident_id in first:  # replaced in this batch: listed after all
                            candidates[first.pop(incident_id)] = revision_event(current, None)
                        candidates.append(revision_event(message, current))
                    current = revised[incident_id] = message
                elif isinstance(message, Action):
                    candidates.append(action_event(message))
                else:
                    candidates.append(outcome_event(message))
        new: dict[str, list[Event]] = {}
        recorded = read.recorded
        for event in candidates:
            if (event.incident_id, event.event_id) not in recorded:
                recorded.add((event.incident_id, event.event_id))
                new.setdefault(event.incident_id, []).append(event)
        if not new:
            return []
        # A held first revision replaced: its event lists its members now.
        listed = [
            (self.db.document(encoded(revision_event(replaced[i], None))), i, listed_id)
            for i, listed_id in await self._in_document(
                tx, {i: r for i, r in replaced.items() if i in revised}
            )
        ]
        lifecycles: dict[str, Lifecycle] = {}
        # Held incidents only delivery outcomes changed: their lifecycle is as
        # stored (not read), their summary moves only its time of change.
        outcomes_only: dict[str, dict[str, Any]] = {}
        again: list[str] = []
        for incident_id, events in new.items():
            previous = held.get(incident_id)
            if previous is None and incident_id not in revised:
                continue  # actions before the incident's first revision: kept for when it comes
            shaping = sorted((e for e in events if e.shapes_lifecycle), key=_key)
            if previous is not None and not shaping and incident_id not in revised:
                stored = json.loads(previous.summary)
                if tuple(stored) == SUMMARY_KEYS:
                    outcomes_only[incident_id] = stored
                    continue
            before = previous.lifecycle if previous is not None else None
            if before is not None and (not shaping or shaping[0].key > (before.last or ())):
                lifecycles[incident_id] = fold(before, shaping)
            else:
                # Something arrived out of time order (or the incident is new):
                # fold all of its events again, as a rebuild would.
                again.append(incident_id)
        # Read before this batch's events are written: they are at hand.
        earlier = {i: read.unheld_events.get(i, []) for i in again if i not in held}
        earlier.update(await self._all_events(tx, [i for i in again if i in held]))
        await tx.executemany(
            "INSERT INTO corral_events (incident_id, event_id, at_ms, kind, data) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                (e.incident_id, e.event_id, e.at_ms, e.kind.value, self.db.document(encoded(e)))
                for events in new.values()
                for e in events
            ],
        )
        if listed:
            await tx.executemany(
                "UPDATE corral_events SET data = ? WHERE incident_id = ? AND event_id = ?", listed
            )
        stored_changes: dict[str, int] = {}
        for incident_id, stored_events in earlier.items():
            events = stored_events + new[incident_id]
            lifecycles[incident_id] = replay(events)
            # Events kept before the incident's first revision count as changes too.
            stored_changes[incident_id] = max(e.at_ms for e in events)
        applied: list[Applied] = []
        later: list[tuple[Any, ...]] = []
        for incident_id, stored in outcomes_only.items():
            previous = held[incident_id]
            events = new[incident_id]
            changed_ms = max(previous.changed_ms, *(e.at_ms for e in events))
            if changed_ms > previous.changed_ms:
                later.append((changed_ms, json.dumps(touched(stored, changed_ms)), incident_id))
            applied.append(
                Applied(
                    _change(incident_id, events, previous.state),
                    previous.priority,
                    previous.team,
                    previous.opened_ms,
                )
            )
        # Held incidents whose summary is made again from their revision
        # (stored by another version) or that may have ended here.
        await read.documents(
            tx,
            [
                incident_id
                for incident_id, lifecycle in lifecycles.items()
                if incident_id not in revised
                and (
                    lifecycle.state == State.RESOLVED
                    or tuple(json.loads(held[incident_id].summary)) != SUMMARY_KEYS
                )
            ],
        )
        rows: list[tuple[Any, ...]] = []
        # Incidents only actions or outcomes changed: their document (tens of
        # KB) is not written again.
        kept: list[tuple[Any, ...]] = []
        for incident_id, lifecycle in lifecycles.items():
            previous = held.get(incident_id)
            events = new[incident_id]
            changed_ms = max(
                previous.changed_ms if previous else 0,
                stored_changes.get(incident_id, 0),
                *(e.at_ms for e in events),
            )
            revision = revised.get(incident_id)
            stored = None
            if revision is None:
                assert previous is not None
                stored = patched(json.loads(previous.summary), lifecycle, changed_ms)
            if stored is None:
                revision = revision or previous.incident  # type: ignore[union-attr]
                stored = summary(revision, lifecycle, changed_ms, self.describer)
            common = (
                lifecycle.state.value,
                stored["team"],
                changed_ms,
                lifecycle.resolved_at_ms,
                lifecycle.snoozed_until_ms,
                json.dumps(stored),
                lifecycle.model_dump_json(),
            )
            if incident_id in revised:
                head = revised[incident_id].head
                opened_ms = to_ms(head.opened_at)
                rows.append(
                    (
                        incident_id,
                        head.revision,
                        head.priority,
                        opened_ms,
                        *common,
                        self.db.document(revised[incident_id].doc),
                    )
                )
                priority = head.priority
            else:
                assert previous is not None
                kept.append((*common, incident_id))
                priority, opened_ms = previous.priority, previous.opened_ms
            applied.append(
                _applied(
                    incident_id,
                    lifecycle,
                    previous,
                    events,
                    priority,
                    stored["team"],
                    opened_ms,
                    revised.get(incident_id),
                )
            )
        if rows:
            await tx.executemany(
                """INSERT INTO corral_incidents (id, revision, priority, opened_ms, state, team,
                    changed_ms, resolved_ms, snoozed_until_ms, summary, lifecycle, doc)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET revision = excluded.revision,
                    state = excluded.state, priority = excluded.priority, team = excluded.team,
                    opened_ms = excluded.opened_ms, changed_ms = excluded.changed_ms,
                    resolved_ms = excluded.resolved_ms,
                    snoozed_until_ms = excluded.snoozed_until_ms, summary = excluded.summary,
                    lifecycle = excluded.lifecycle, doc = excluded.doc""",
                rows,
            )
        if kept:
            await tx.executemany(
                """UPDATE corral_incidents SET state = ?, team = ?, changed_ms = ?,
                    resolved_ms = ?, snoozed_until_ms = ?, summary = ?, lifecycle = ?
                   WHERE id = ?""",
                kept,
            )
        if later:
            await tx.executemany(
                "UPDATE corral_incidents SET changed_ms = ?, summary = ? WHERE id = ?", later
            )
        return applied

    async def _read(
        self, tx: Sql, by_incident: dict[str, list[Revision | Action | DeliveryOutcome]]
    ) -> _Read:
        """What a batch needs of the store, in one round trip: the incidents
        held (the documents of those it revises), which of its events are
        recorded, and the events kept of the incidents not held, which a
        first revision folds in."""
        wanted: dict[str, set[str]] = {}
        revising: list[str] = []
        for incident_id, messages in by_incident.items():
            wanted[incident_id] = {event_id(message) for message in messages}
            if any(isinstance(message, Revision) for message in messages):
                revising.append(incident_id)
        parts = [
            _held_queries(list(by_incident), set(revising)),
            _in_queries(_UNHELD_EVENTS, revising),
            _recorded_queries(wanted),
        ]
        results = iter(await tx.fetch_all([query for part in parts for query in part]))
        held_rows, unheld_rows, recorded_rows = (
            [row for _ in part for row in next(results)] for part in parts
        )
        held = {row[0]: _Held(*row[1:]) for row in held_rows}
        unheld_events: dict[str, list[Event]] = {}
        for row in unheld_rows:
            unheld_events.setdefault(row[0], []).append(_event(row))
        for events in unheld_events.values():
            events.sort(key=_key)
        recorded = {(i, e) for i, e in recorded_rows if e in wanted[i]}
        return _Read(held, recorded, unheld_events)

    async def _in_document(self, tx: Sql, revisions: dict[str, Revision]) -> list[tuple[str, str]]:
        """(incident id, event id) of those of these revisions whose event
        refers to the document for its members."""
        found: list[tuple[str, str]] = []
        ids = list(revisions)
        for start in range(0, len(ids), _MAX_PARAMETERS // 2):
            chunk = ids[start : start + _MAX_PARAMETERS // 2]
            wanted = {i: revision_id(revisions[i].revision) for i in chunk}
            rows = await tx.fetch(
                "SELECT incident_id, event_id FROM corral_events "
                f"WHERE incident_id IN ({_marks(chunk)}) "
                f"AND event_id IN ({_marks(chunk)}) AND substr(data, 1, ?) = ?",
                *chunk,
                *wanted.values(),
                len(IN_DOCUMENT_PREFIX),
                self.db.document(IN_DOCUMENT_PREFIX),
            )
            found += [(i, e) for i, e in rows if wanted[i] == e]
        return found

    async def _all_events(self, sql: Sql, incident_ids: list[str]) -> dict[str, list[Event]]:
        """Every stored event of these incidents, in time order."""
        found: dict[str, list[Event]] = {incident_id: [] for incident_id in incident_ids}
        for row in await _fetch_in(
            sql,
            "SELECT incident_id, event_id, at_ms, kind, data FROM corral_events "
            "WHERE incident_id IN ({})",
            incident_ids,
        ):
            found[row[0]].append(_event(row))
        for events in found.values():
            events.sort(key=_key)
        return found

    async def _events(self, sql: Sql, incident_id: str) -> list[Event]:
        rows = await sql.fetch(
            "SELECT incident_id, event_id, at_ms, kind, data FROM corral_events "
            "WHERE incident_id = ?",
            incident_id,
        )
        return sorted(map(_event, rows), key=_key)

    def _notification(self, change: Change) -> str:
        return json.dumps(
            {
                "origin": self.origin,
                "id": change.incident_id,
                "kinds": sorted(change.kinds),
                "state": change.state,
                "actions": list(change.action_ids),
            }
        )

    def notified_change(self, payload: str) -> Change | None:
        """Another worker's change, from a PostgreSQL notification; None for our own."""
        data = json.loads(payload)
        if data.get("origin") == self.origin:
            return None
        return Change(data["id"], frozenset(data["kinds"]), data["state"], tuple(data["actions"]))

    async def purge(self, resolved_before_ms: int) -> int:
        """Forget incidents resolved before the given time (``incidents.retention``)."""
        rows = await self.db.fetch(
            "SELECT id FROM corral_incidents WHERE state = 'resolved' AND resolved_ms < ?",
            resolved_before_ms,
        )
        ids = [row[0] for row in rows]
        async with self.db.transaction() as tx:
            await tx.executemany(
                "DELETE FROM corral_events WHERE incident_id = ?", [(i,) for i in ids]
            )
            await tx.executemany("DELETE FROM corral_incidents WHERE id = ?", [(i,) for i in ids])
        return len(ids)

    # Reading ---------------------------------------------------------------

    async def get(self, incident_id: str, with_events: bool = True) -> StoredIncident | None:
        rows = await self.db.fetch(
            "SELECT doc, lifecycle, summary FROM corral_incidents WHERE id = ?", incident_id
        )
        if not rows:
            return None
        doc, lifecycle, stored = rows[0]
        incident = Incident.model_validate_json(doc)
        events = await self._events(self.db, incident_id) if with_events else []
        for event in events:
            if event.kind == EventKind.REVISION and refers_to_document(event.data):
                del event.data["changes_in"]
                # The document read is this revision: the one that replaced it
                # wrote the members into the event in its transaction, which
                # would have been read here (it was read after the document).
                same = incident.revision == event.data["revision"]
                event.data["changes"] = [member(a) for a in incident.alerts] if same else []
        return StoredIncident(
            incident, Lifecycle.model_validate_json(lifecycle), json.loads(stored), events
        )

    async def action_recorded(self, incident_id: str, action_id: str) -> bool:
        rows = await self.db.fetch(
            "SELECT 1 FROM corral_events WHERE incident_id = ? AND event_id = ?",
            incident_id,
            f"a/{action_id}",
        )
        return bool(rows)

    async def list(self, query: Query, now_ms: int) -> tuple[list[Listed], str | None]:
        """Summaries (with their snooze end), newest first, and the cursor of the next page."""
        where, params = _where(query, now_ms)
        if query.cursor:
            opened, incident_id = decode_cursor(query.cursor)
            where.append("(opened_ms < ? OR (opened_ms = ? AND id < ?))")
            params.extend([opened, opened, incident_id])
        rows = await self.db.fetch(
            _select(where, "opened_ms DESC, id DESC"), *params, query.limit + 1
        )
        page = rows[: query.limit]
        cursor = encode_cursor(page[-1][2], page[-1][3]) if len(rows) > query.limit else None
        return [(json.loads(r[0]), r[1]) for r in page], cursor

    async def board(self, query: Query, now_ms: int) -> tuple[Sequence[Listed], bool]:
        """Summaries in the board's order, the most urgent priority first and the
        longest open first within it, and whether more matched than ``query.limit``."""
        where, params = _where(query, now_ms)
        rows = await self.db.fetch(
            _select(where, "priority, opened_ms, id"), *params, query.limit + 1
        )
        return [(json.loads(r[0]), r[1]) for r in rows[: query.limit]], len(rows) > query.limit

    async def summaries(self, incident_ids: Sequence[str]) -> dict[str, Listed]:
        """The stored summaries of these incidents (those that exist), by id."""
        rows = await _fetch_in(
            self.db,
            "SELECT id, summary, snoozed_until_ms FROM corral_incidents WHERE id IN ({})",
            list(incident_ids),
        )
        return {row[0]: (json.loads(row[1]), row[2]) for row in rows}

    async def teams(self, limit: int = 500) -> builtins.list[str]:
        """The teams incidents name, for the board's filter."""
        rows = await self.db.fetch(
            "SELECT DISTINCT team FROM corral_incidents WHERE team <> '' ORDER BY team LIMIT ?",
            limit,
        )
        return [row[0] for row in rows]

    async def open_counts(self, now_ms: int) -> dict[tuple[str, str], int]:
        """Open incidents by (state now, priority).

        Called every tick. Only an acknowledged incident's state now depends
        on its snooze, so only those rows are read: the others are counted
        from the (state, priority) index alone, where reading every open
        row's snooze would read the table (a row a page or more) each time.
        """
        grouped, acknowledged = await self.db.fetch_all(
            [
                (
                    "SELECT state, priority, count(*) FROM corral_incidents "
                    "WHERE state <> 'resolved' AND state <> 'acknowledged' "
                    "GROUP BY state, priority",
                    (),
                ),
                (
                    "SELECT priority, snoozed_until_ms FROM corral_incidents "
                    "WHERE state = 'acknowledged'",
                    (),
                ),
            ]
        )
        counts = {(state, priority): count for state, priority, count in grouped}
        for priority, snoozed_until in acknowledged:
            lapsed = snoozed_until is not None and snoozed_until <= now_ms
            state = State.FIRING.value if lapsed else State.ACKNOWLEDGED.value
            counts[(state, priority)] = counts.get((state, priority), 0) + 1
        return counts

    async def snoozes_ended(self, after_ms: int, until_ms: int) -> builtins.list[str]:
        """Incidents whose snooze ended in ``(after_ms, until_ms]``: firing again."""
        rows = await self.db.fetch(
            "SELECT id FROM corral_incidents WHERE state = 'acknowledged' "
            "AND snoozed_until_ms > ? AND snoozed_until_ms <= ?",
            after_ms,
            until_ms,
        )
        return [row[0] for row in rows]


_UNHELD_EVENTS = (
    "SELECT incident_id, event_id, at_ms, kind, data FROM corral_events "
    "WHERE incident_id IN ({}) AND NOT EXISTS "
    "(SELECT 1 FROM corral_incidents WHERE corral_incidents.id = corral_events.incident_id)"
)
"""The events kept of incidents the store does not hold (actions before the first revision)."""


@dataclass
class _Held:
    """An incident as the store holds it before a batch, its revision read
    when asked for (an action or an outcome does not need it)."""

    doc: bytes | str | None
    """None until ``_Read.documents`` read it: it is tens of KB."""
    lifecycle_json: str | bytes
    changed_ms: int
    summary: str | bytes
    priority: str
    opened_ms: int
    state: str
    team: str

    @cached_property
    def incident(self) -> Revision:
        assert self.doc is not None, "read by _Read.documents"
        return Revision.from_bytes(_bytes(self.doc))

    @cached_property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle.model_validate_json(self.lifecycle_json)


@dataclass
class _Read:
    """What a batch read of the store before writing."""

    held: dict[str, _Held]
    recorded: set[tuple[str, str]]
    """(incident id, event id) of the batch's events the store has."""
    unheld_events: dict[str, list[Event]]
    """Every event kept of the incidents the batch revises that the store does
    not hold, in time order."""

    async def documents(self, sql: Sql, incident_ids: list[str]) -> None:
        """Read the documents of these held incidents, where not read yet."""
        missing = [i for i in incident_ids if self.held[i].doc is None]
        if missing:
            for incident_id, doc in await _fetch_in(
                sql, "SELECT id, doc FROM corral_incidents WHERE id IN ({})", missing
            ):
                self.held[incident_id].doc = doc


# Placeholders per statement, well within SQLite's and PostgreSQL's limits.
_MAX_PARAMETERS = 900


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _chunks(
    items: dict[str, set[str]], size: Callable[[set[str]], int]
) -> Iterator[dict[str, set[str]]]:
    chunk: dict[str, set[str]] = {}
    used = 0
    for key, value in items.items():
        if chunk and used + size(value) > _MAX_PARAMETERS:
            yield chunk
            chunk, used = {}, 0
        chunk[key] = value
        used += size(value)
    if chunk:
        yield chunk


def _held_queries(incident_ids: list[str], revising: set[str]) -> list[Select]:
    """Queries for the incidents held, as ``_Held`` takes them: the document
    only of those in ``revising`` (it is tens of KB)."""
    queries: list[Select] = []
    step = _MAX_PARAMETERS // 2
    for start in range(0, len(incident_ids), step):
        chunk = incident_ids[start : start + step]
        documents = [i for i in chunk if i in revising]
        document = f"CASE WHEN id IN ({_marks(documents)}) THEN doc END" if documents else "NULL"
        queries.append(
            (
                f"SELECT id, {document}, lifecycle, changed_ms, summary, priority, opened_ms, "
                f"state, team FROM corral_incidents WHERE id IN ({_marks(chunk)})",
                [*documents, *chunk],
            )
        )
    return queries


def _in_queries(query: str, values: list[str]) -> list[Select]:
    """``query`` with its one ``IN ({})`` filled with ``values``, in chunks."""
    return [
        (query.format(_marks(chunk)), chunk)
        for start in range(0, len(values), _MAX_PARAMETERS)
        for chunk in [values[start : start + _MAX_PARAMETERS]]
    ]


async def _fetch_in(sql: Sql, query: str, values: list[str]) -> list[Row]:
    """``query`` with its one ``IN ({})`` filled with ``values``: every row."""
    if not values:
        return []
    return [row for rows in await sql.fetch_all(_in_queries(query, values)) for row in rows]


def _recorded_queries(wanted: dict[str, set[str]]) -> list[Select]:
    """Queries for which of the ``wanted`` event ids (by incident) the store
    has, as (incident id, event id): a superset, to be filtered by ``wanted``."""
    queries: list[Select] = []
    for chunk in _chunks(wanted, lambda ids: len(ids) + 1):
        incidents = list(chunk)
        event_ids = sorted(set().union(*chunk.values()))
        queries.append(
            (
                "SELECT incident_id, event_id FROM corral_events "
                f"WHERE incident_id IN ({_marks(incidents)}) "
                f"AND event_id IN ({_marks(event_ids)})",
                [*incidents, *event_ids],
            )
        )
    return queries


def _bytes(document: str | bytes) -> bytes:
    return document.encode() if isinstance(document, str) else document


def _event(row: Row) -> Event:
    incident_id, event_id, at_ms, kind, data = row
    return Event(incident_id, event_id, at_ms, EventKind(kind), json.loads(data))


def _key(event: Event) -> SortKey:
    return event.key


def _applied(
    incident_id: str,
    lifecycle: Lifecycle,
    previous: _Held | None,
    events: list[Event],
    priority: str,
    team: str,
    opened_ms: int,
    revision: Revision | None,
) -> Applied:
    before = previous.lifecycle if previous else None
    newly_resolved = lifecycle.state == State.RESOLVED and (
        before is None or before.state != State.RESOLVED
    )
    if newly_resolved:
        # A merged incident ends as resolved, but its alerts went on in another.
        latest = revision or previous.incident  # type: ignore[union-attr]
        newly_resolved = latest.head.merged_into is None
    newly_acknowledged = lifecycle.first_acknowledged_at_ms is not None and (
        before is None or before.first_acknowledged_at_ms is None
    )
    return Applied(
        _change(incident_id, events, lifecycle.state.value),
        priority,
        team,
        opened_ms,
        acknowledged_ms=lifecycle.first_acknowledged_at_ms if newly_acknowledged else None,
        resolved_ms=lifecycle.resolved_at_ms if newly_resolved else None,
    )


def _change(incident_id: str, events: list[Event], state: str) -> Change:
    return Change(
        incident_id,
        frozenset(e.kind.value for e in events),
        state,
        tuple(e.data["action_id"] for e in events if e.kind == EventKind.ACTION),
    )


def _where(query: Query, now_ms: int) -> tuple[list[str], list[Any]]:
    """The conditions of a query but its cursor, and their parameters."""
    where: list[str] = []
    params: list[Any] = []
    if query.states:
        clauses = [_state_clause(state) for state in query.states]
        where.append("(" + " OR ".join(c for c, _ in clauses) + ")")
        for _, count in clauses:
            params.extend([now_ms] * count)
    if query.priorities:
        where.append(f"priority IN ({_marks(query.priorities)})")
        params.extend(query.priorities)
    if query.team is not None:
        where.append("team = ?")
        params.append(query.team)
    if query.since_ms is not None:
        where.append("changed_ms >= ?")
        params.append(query.since_ms)
    return where, params


def _select(where: list[str], order: str) -> str:
    sql = "SELECT summary, snoozed_until_ms, opened_ms, id FROM corral_incidents"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return f"{sql} ORDER BY {order} LIMIT ?"


def _state_clause(state: str) -> tuple[str, int]:
    """SQL for one state as of now (a ``?`` for now per count), snoozes considered."""
    lapsed = "(snoozed_until_ms IS NOT NULL AND snoozed_until_ms <= ?)"
    if state == "open":
        return "state <> 'resolved'", 0
    if state == State.FIRING:
        return f"(state = 'firing' OR (state = 'acknowledged' AND {lapsed}))", 1
    if state == State.ACKNOWLEDGED:
        return f"(state = 'acknowledged' AND NOT {lapsed})", 1
    return "state = 'resolved'", 0
