"""The incident store on SQLite and on a real PostgreSQL: the same behaviour on both."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from services.incidents.feed import Change, ChangeFeed, Subscription
from services.incidents.revision import Revision
from services.incidents.store import IncidentStore, database_for
from services.incidents.store.database import _Connection
from services.incidents.store.incidents import Query
from services.incidents.times import to_ms
from services.incidents.views import Describer, alert_change, detail, member, summary
from shared.messages import Incident
from tests.incidents import action, alert, at, outcome, revision
from tests.postgres import PostgresServer, database

DISK = alert("DiskFull", service="postgres")
IO = alert("HighIOWait", service="postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """(store setting, data dir) for each kind of store."""
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path)
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    async with database(server) as url:
        yield url, str(tmp_path)


@contextlib.asynccontextmanager
async def opened(store: str, data_dir: str) -> AsyncIterator[IncidentStore]:
    incidents = IncidentStore(database_for(store, data_dir), Describer())
    await incidents.open()
    try:
        yield incidents
    finally:
        await incidents.close()


HISTORY = [
    revision(1, [DISK], 0, explanation=['opened by DiskFull{instance="db-1"}']),
    outcome(1, "oncall", escalation_step=1, escalation_policy="db"),
    revision(
        2,
        [DISK, IO],
        30,
        explanation=[
            'opened by DiskFull{instance="db-1"}',
            "HighIOWait joined: same instance",
            "probable root: DiskFull",
        ],
        root_cause="fp-diskfull",
    ),
    outcome(900, "secondary", escalation_step=2, escalation_policy="db"),
    action("acknowledge", 960, "alice", source="pagerduty"),
    action("assign", 970, "alice", role="incident_commander", person="alice"),
    action("note", 980, "alice", text="growing the volume"),
    revision(
        3,
        [
            alert("DiskFull", "resolved", service="postgres"),
            alert("HighIOWait", "resolved", service="postgres"),
        ],
        1800,
        explanation=[
            'opened by DiskFull{instance="db-1"}',
            "HighIOWait joined: same instance",
            "probable root: DiskFull",
        ],
        root_cause="fp-diskfull",
    ),
]


TIMELINE = [
    ("revision", "revision 1: opened, P1 critical"),
    ("alert", "DiskFull firing: DiskFull on db-1"),
    ("decision", 'opened by DiskFull{instance="db-1"}'),
    ("escalation", "escalation step 1 of db: trigger to oncall (pagerduty/0): sent"),
    ("revision", "revision 2: updated, P1 critical"),
    ("alert", "HighIOWait firing: HighIOWait on db-1"),
    ("decision", "HighIOWait joined: same instance"),
    ("decision", "probable root: DiskFull"),
    ("escalation", "escalation step 2 of db: trigger to secondary (pagerduty/0): sent"),
    ("action", "acknowledged by alice via pagerduty"),
    ("action", "alice is incident commander (assigned by alice via api)"),
    ("action", "note by alice: growing the volume"),
    ("revision", "revision 3: resolved, P1 critical"),
    ("alert", "DiskFull resolved: DiskFull on db-1"),
    ("alert", "HighIOWait resolved: HighIOWait on db-1"),
]


async def apply_all(store: IncidentStore, messages: list[object]) -> None:
    for offset, message in enumerate(messages):
        await store.apply([message], {("t", 0): offset + 1})  # type: ignore[list-item]


async def test_history_makes_the_incident_and_its_timeline(store_url: tuple[str, str]) -> None:
    async with opened(*store_url) as store:
        await apply_all(store, HISTORY)
        stored = await store.get("inc-1")
        assert stored is not None
        shown = detail(
            stored.incident, stored.lifecycle, stored.summary, stored.events, to_ms(at(2000))
        )
    assert shown["state"] == "resolved"
    assert shown["acknowledged_by"] == "alice"
    assert shown["roles"] == {"incident_commander": "alice"}
    assert shown["team"] == "storage"
    assert shown["services"] == ["postgres"]
    assert shown["root_cause"]["labels"]["alertname"] == "DiskFull"
    assert shown["time_to_acknowledge_seconds"] == 960
    assert shown["time_to_resolve_seconds"] == 1800
    assert shown["notes"] == [
        {"at": "2026-11-26T10:16:20.000Z", "author": "alice", "text": "growing the volume"}
    ]
    assert [(e["type"], e["text"]) for e in shown["timeline"]] == TIMELINE


async def test_a_store_written_before_goes_on(store_url: tuple[str, str]) -> None:
    """Stores written before kept documents as text and each changed alert as the
    timeline shows it, not as the revision listed it."""
    async with opened(*store_url) as store:
        await apply_all(store, HISTORY[:2])
        async with store.db.transaction() as tx:
            await tx.execute(
                "UPDATE corral_incidents SET doc = ?",
                HISTORY[0].to_bytes().decode(),
            )
            for event_id, data in await tx.fetch("SELECT event_id, data FROM corral_events"):
                before = json.loads(data)
                if before.pop("changes_in", None):  # the version before listed them all
                    before["changes"] = [alert_change(member(a)) for a in HISTORY[0].alerts]
                if "changes" in before:
                    before["changes"] = [alert_change(c) for c in before["changes"]]
                await tx.execute(
                    "UPDATE corral_events SET data = ? WHERE event_id = ?",
                    json.dumps(before),
                    event_id,
                )
        for offset, message in enumerate(HISTORY[2:], start=2):
            await store.apply([message], {("t", 0): offset + 1})  # type: ignore[list-item]
        stored = await store.get("inc-1")
        assert stored is not None
        shown = detail(
            stored.incident, stored.lifecycle, stored.summary, stored.events, to_ms(at(2000))
        )
    assert [(e["type"], e["text"]) for e in shown["timeline"]] == TIMELINE


async def test_redelivery_changes_nothing(store_url: tuple[str, str]) -> None:
    async with opened(*store_url) as store:
        first = await store.apply(HISTORY, {("t", 0): 8})  # type: ignore[arg-type]
        assert [a.change.incident_id for a in first] == ["inc-1"]
        again = await store.apply(HISTORY, {("t", 0): 8})  # type: ignore[arg-type]
        assert again == []
        stored = await store.get("inc-1")
        assert stored is not None
        assert len(stored.events) == len(HISTORY)
        assert await store.positions() == {("t", 0): 8}


async def test_arrival_order_does_not_matter_and_early_actions_wait(
    store_url: tuple[str, str],
) -> None:
    """A rebuild reads the topics interleaved differently from the live run,
    and may read an incident's actions before its first revision."""
    late = action("note", 2500, "carol", text="after the fact")  # the latest event of all
    revisions = [m for m in HISTORY if isinstance(m, Incident)]
    others = [m for m in HISTORY if not isinstance(m, Incident)]
    random.Random(7).shuffle(others)
    others.insert(0, late)
    async with opened(*store_url) as store:
        await apply_all(store, [*HISTORY, late])
        expected = await store.get("inc-1")
        await _reset(store)
        await apply_all(store, others[:3])
        assert await store.get("inc-1") is None
        await apply_all(store, revisions[:1] + others[3:] + revisions[1:])
        got = await store.get("inc-1")
    assert expected is not None and got is not None
    assert got.lifecycle.model_dump(exclude={"last"}) == expected.lifecycle.model_dump(
        exclude={"last"}
    )
    assert got.summary == expected.summary
    assert [e.event_id for e in got.events] == [e.event_id for e in expected.events]


async def _reset(store: IncidentStore) -> None:
    async with store.db.transaction() as tx:
        for table in ("corral_events", "corral_incidents", "corral_positions"):
            await tx.execute(f"DELETE FROM {table}")


async def test_list_filters_and_pages_newest_first(store_url: tuple[str, str]) -> None:
    async with opened(*store_url) as store:
        for n in range(7):
            labels = {"cluster": "prod", "team": "db" if n % 2 else "web"}
            incident = revision(
                1, [DISK], n * 60, id=f"inc-{n}", labels=labels, priority="P1" if n < 3 else "P3"
            )
            incident = incident.model_copy(update={"opened_at": at(n * 60)})
            await store.apply([incident], {})
        await store.apply(
            [action("acknowledge", 500, id="inc-1"), action("resolve", 510, id="inc-2")], {}
        )
        now = to_ms(at(600))
        page, cursor = await store.list(Query(limit=3), now)
        assert [s["id"] for s, _ in page] == ["inc-6", "inc-5", "inc-4"]
        assert cursor is not None
        page, cursor = await store.list(Query(limit=3, cursor=cursor), now)
        assert [s["id"] for s, _ in page] == ["inc-3", "inc-2", "inc-1"]
        page, cursor = await store.list(Query(limit=3, cursor=cursor), now)
        assert [s["id"] for s, _ in page] == ["inc-0"] and cursor is None
        team, _ = await store.list(Query(team="db"), now)
        assert [s["id"] for s, _ in team] == ["inc-5", "inc-3", "inc-1"]
        acked, _ = await store.list(Query(states=("acknowledged",)), now)
        assert [s["id"] for s, _ in acked] == ["inc-1"]
        firing, _ = await store.list(Query(states=("firing",), priorities=("P1",)), now)
        assert [s["id"] for s, _ in firing] == ["inc-0"]
        since, _ = await store.list(Query(since_ms=to_ms(at(300))), now)
        assert [s["id"] for s, _ in since] == ["inc-6", "inc-5", "inc-2", "inc-1"]
        counts = await store.open_counts(now)
        assert counts == {("firing", "P1"): 1, ("firing", "P3"): 4, ("acknowledged", "P1"): 1}


async def test_an_ended_snooze_shows_firing_again(store_url: tuple[str, str]) -> None:
    async with opened(*store_url) as store:
        await store.apply([revision(1, [DISK], 0), action("snooze", 10, until=at(70))], {})
        during, _ = await store.list(Query(states=("acknowledged",)), to_ms(at(60)))
        after, _ = await store.list(Query(states=("firing",)), to_ms(at(80)))
        assert [s["id"] for s, _ in during] == [s["id"] for s, _ in after] == ["inc-1"]
        assert await store.snoozes_ended(to_ms(at(60)), to_ms(at(80))) == ["inc-1"]
        assert await store.open_counts(to_ms(at(80))) == {("firing", "P1"): 1}


async def test_the_store_keeps_its_id(store_url: tuple[str, str]) -> None:
    async with opened(*store_url) as store:
        first = store.store_id
    async with opened(*store_url) as store:
        assert store.store_id == first


async def test_postgres_notifies_other_workers(postgres: PostgresServer) -> None:
    async with database(postgres) as url, opened(url, "") as writer, opened(url, "") as reader:
        feed = ChangeFeed()
        await reader.db.listen("corral_incidents", lambda p: _publish(reader, feed, p))
        with feed.subscribe() as subscription:
            await writer.apply([revision(1, [DISK], 0), action("acknowledge", 5)], {})
            change = await _next(subscription)
        assert (change.incident_id, change.state) == ("inc-1", "acknowledged")
        assert change.kinds == {"revision", "action"}
        assert change.action_ids == ("acknowledge-alice-5",)


async def test_postgres_notifies_each_incident_of_a_batch_in_order(
    postgres: PostgresServer,
) -> None:
    async with database(postgres) as url, opened(url, "") as writer, opened(url, "") as reader:
        feed = ChangeFeed()
        await reader.db.listen("corral_incidents", lambda p: _publish(reader, feed, p))
        ids = [f"inc-{n}" for n in range(5)]
        with feed.subscribe() as subscription:
            await writer.apply([revision(1, [DISK], n, id=i) for n, i in enumerate(ids)], {})
            changes = [await _next(subscription) for _ in ids]
            await writer.apply([], {("t", 0): 1})  # notifies nothing
            await writer.apply([action("acknowledge", 9, id="inc-3")], {})
            last = await _next(subscription)
        assert [c.incident_id for c in changes] == ids
        assert all(c.kinds == {"revision"} for c in changes)
        assert (last.incident_id, last.state) == ("inc-3", "acknowledged")


def _publish(store: IncidentStore, feed: ChangeFeed, payload: str) -> None:
    change = store.notified_change(payload)
    if change is not None:
        feed.publish([change])


async def _next(subscription: Subscription) -> Change:
    return await asyncio.wait_for(subscription.get(), 10)


async def test_response_times_count_real_transitions_once(store_url: tuple[str, str]) -> None:
    async with opened(*store_url) as store:
        [opened_] = await store.apply([revision(1, [DISK], 0)], {})
        assert (opened_.acknowledged_ms, opened_.resolved_ms) == (None, None)
        [acked] = await store.apply([action("acknowledge", 60)], {})
        assert acked.acknowledged_ms == to_ms(at(60))
        [again] = await store.apply([action("acknowledge", 90, "bob")], {})
        assert again.acknowledged_ms is None  # not the first acknowledgement
        [resolved] = await store.apply([action("resolve", 120)], {})
        assert (resolved.resolved_ms, resolved.priority, resolved.team) == (
            to_ms(at(120)),
            "P1",
            "storage",
        )
        merged = revision(2, [alert("DiskFull", "resolved")], 30, id="inc-2", merged_into="inc-1")
        await store.apply([revision(1, [DISK], 0, id="inc-2")], {})
        [gone] = await store.apply([merged], {})
        assert gone.change.state == "resolved" and gone.resolved_ms is None
        # Reopened and resolved by hand, a merged incident is still not counted.
        [gone_again] = await store.apply([action("reopen", 300, id="inc-2")], {})
        assert gone_again.change.state == "firing"
        [resolved_again] = await store.apply([action("resolve", 310, id="inc-2")], {})
        assert resolved_again.change.state == "resolved" and resolved_again.resolved_ms is None


async def test_actions_and_outcomes_leave_the_summary_a_revision_would_make(
    store_url: tuple[str, str],
) -> None:
    """Without a revision, a batch patches the stored summary instead of making
    it again from the revision: after every message, it is what making it
    again gives."""
    async with opened(*store_url) as store:
        for offset, message in enumerate([*HISTORY[:2], *HISTORY[3:7]]):
            await store.apply([message], {("t", 0): offset + 1})  # type: ignore[list-item]
            [(doc, changed_ms)] = await store.db.fetch(
                "SELECT doc, changed_ms FROM corral_incidents WHERE id = 'inc-1'"
            )
            stored = await store.get("inc-1")
            assert stored is not None
            made = summary(
                Revision.from_bytes(doc if isinstance(doc, bytes) else doc.encode()),
                stored.lifecycle,
                changed_ms,
                store.describer,
            )
            assert stored.summary == made
    assert made["acknowledged_by"] == "alice" and made["roles"] == {"incident_commander": "alice"}


async def test_a_summary_another_version_wrote_is_made_again(
    store_url: tuple[str, str],
) -> None:
    """A batch without a revision reads the incident's document only when it
    needs it: to make again a summary laid out otherwise (by another version),
    or to see whether an incident that ends here was merged."""
    async with opened(*store_url) as store:
        await store.apply([revision(1, [DISK], 0)], {})
        for message in (outcome(5), action("resolve", 60)):
            await store.db.execute(
                "UPDATE corral_incidents SET summary = ?", json.dumps({"id": "inc-1"})
            )
            [applied] = await store.apply([message], {})
            stored = await store.get("inc-1")
            assert stored is not None
            made = summary(
                Revision.of(stored.incident),
                stored.lifecycle,
                to_ms(message.at),
                store.describer,
            )
            assert stored.summary == made
        assert applied.resolved_ms == to_ms(at(60))


async def test_a_batch_is_two_hand_offs_to_sqlites_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hand-off to SQLite's thread and back costs more CPU than most
    statements: a batch reads what it needs in one and commits in another,
    whether its incidents are new or held."""
    calls = 0
    call = _Connection._call

    async def counted(self: _Connection, function: Callable[[], Any]) -> Any:
        nonlocal calls
        calls += 1
        return await call(self, function)

    monkeypatch.setattr(_Connection, "_call", counted)
    async with opened("sqlite", str(tmp_path)) as store:
        for batch in (
            [revision(1, [DISK], 0), outcome(1, id="inc-0")],
            [revision(1, [DISK], 5, id="inc-2"), outcome(6), outcome(7, "secondary")],
            [action("acknowledge", 60), outcome(61, id="inc-2")],
        ):
            calls = 0
            assert await store.apply(batch, {("t", 0): 1})  # type: ignore[arg-type]
            assert calls == 2


async def test_fetch_all_gives_each_querys_rows(store_url: tuple[str, str]) -> None:
    async with opened(*store_url) as store:
        await store.db.execute("INSERT INTO corral_meta (key, value) VALUES ('a', '1')")
        queries = [
            ("SELECT value FROM corral_meta WHERE key = ?", ["a"]),
            ("SELECT value FROM corral_meta WHERE key = ?", ["none"]),
            ("SELECT count(*) FROM corral_meta", []),
        ]
        assert await store.db.fetch_all(queries) == [[("1",)], [], [(2,)]]
        async with store.db.transaction() as tx:
            await tx.execute("INSERT INTO corral_meta (key, value) VALUES ('b', '2')")
            assert await tx.fetch_all(
                [*queries, ("SELECT value FROM corral_meta WHERE key = 'b'", [])]
            ) == [
                [("1",)],
                [],
                [(3,)],
                [("2",)],
            ]
            assert await tx.fetch_all([]) == []


async def test_a_failed_write_leaves_nothing_of_its_transaction(
    store_url: tuple[str, str],
) -> None:
    """SQLite's transactions send their writes with the next read or the
    commit: a read still sees them, and a write that fails undoes the rest."""
    async with opened(*store_url) as store:
        insert = "INSERT INTO corral_meta (key, value) VALUES (?, ?)"
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            async with store.db.transaction() as tx:
                await tx.execute(insert, "a", "1")
                assert await tx.fetch("SELECT value FROM corral_meta WHERE key = 'a'") == [("1",)]
                await tx.executemany(insert, [("b", "2"), ("store_id", "again")])
        with pytest.raises(RuntimeError):
            async with store.db.transaction() as tx:
                await tx.execute(insert, "c", "3")
                raise RuntimeError("the batch failed")
        await store.db.execute(insert, "d", "4")
        rows = await store.db.fetch("SELECT key FROM corral_meta ORDER BY key")
        assert [key for (key,) in rows] == ["d", "store_id"]


async def test_a_new_incident_lists_its_members_once(store_url: tuple[str, str]) -> None:
    """A first revision's event refers to the incident's document for its
    members until a later revision replaces the document; the timeline is the
    same either way, and whether the revisions came in one batch or apart."""

    async def timeline_of(store: IncidentStore) -> list[tuple[str, str]]:
        stored = await store.get("inc-1")
        assert stored is not None
        shown = detail(
            stored.incident, stored.lifecycle, stored.summary, stored.events, to_ms(at(2000))
        )
        return [(e["type"], e["text"]) for e in shown["timeline"]]

    async with opened(*store_url) as store:
        await store.apply([HISTORY[0]], {})
        assert await timeline_of(store) == TIMELINE[:3]
        [(data,)] = await store.db.fetch("SELECT data FROM corral_events")
        assert "annotations" not in (data if isinstance(data, str) else data.decode())
        await store.apply([HISTORY[2]], {})
        apart = await timeline_of(store)
        await _reset(store)
        await store.apply([HISTORY[0], HISTORY[2]], {})
        together = await timeline_of(store)
    expected = [entry for entry in TIMELINE[:8] if entry[0] != "escalation"]
    assert apart == together == expected


async def test_open_counts_are_those_of_every_open_row(store_url: tuple[str, str]) -> None:
    """``open_counts`` reads only the acknowledged rows: the same counts as
    every open row's state now, snoozes considered."""
    async with opened(*store_url) as store:
        priorities = ["P1", "P2", "P3"]
        for n in range(12):
            await store.apply(
                [revision(1, [DISK], n, id=f"inc-{n}", priority=priorities[n % 3])], {}
            )
        await store.apply(
            [
                action("acknowledge", 100, id="inc-0"),
                action("snooze", 100, id="inc-1", until=at(200)),
                action("snooze", 100, id="inc-2", until=at(400)),
                action("snooze", 100, id="inc-4", until=at(300)),
                action("resolve", 100, id="inc-5"),
                action("resolve", 100, id="inc-6"),
            ],
            {},
        )
        rows = await store.db.fetch(
            "SELECT state, priority, snoozed_until_ms FROM corral_incidents "
            "WHERE state <> 'resolved'"
        )
        for now in (to_ms(at(150)), to_ms(at(300)), to_ms(at(500))):
            plain: dict[tuple[str, str], int] = {}
            for state, priority, snoozed_until in rows:
                if state == "acknowledged" and snoozed_until is not None and snoozed_until <= now:
                    state = "firing"
                plain[(state, priority)] = plain.get((state, priority), 0) + 1
            assert await store.open_counts(now) == plain
        assert await store.open_counts(to_ms(at(300))) == {
            ("firing", "P1"): 2,
            ("firing", "P2"): 4,
            ("firing", "P3"): 2,
            ("acknowledged", "P1"): 1,
            ("acknowledged", "P3"): 1,
        }
