"""``triage.growth_hold``: an announced incident that only grows gets at most
one revision per interval; anything else about it goes out at once, and a
held revision survives a restart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.triage.hold import HoldStage
from services.triage.membership import Membership
from services.triage.stages import TriageContext
from services.triage.state import IncidentState, IndexKey, PartitionState
from tests.triage import T0, Triage, alert
from tests.unit.test_triage_hold import NODE, RULE

SETTINGS: dict[str, Any] = {
    "scopes": [["namespace"]],
    "scoring": {"classifier": False},
    "lifecycle": {"quiet_period": "1m", "reopen_window": "10m", "retention": "1h"},
}


def pod(name: str, severity: str = "warning") -> dict[str, str]:
    return {"alertname": "KubePodNotReady", "namespace": "shop", "pod": name, "severity": severity}


def listed(incident: Any) -> list[str]:
    return [a.labels["pod"] for a in incident.alerts]


async def test_growth_within_the_interval_goes_out_as_one_revision() -> None:
    t = Triage(**SETTINGS)
    [opened] = await t.send(alert(pod("a")))
    assert opened.event == "opened"  # an opening is never held
    assert await t.send(alert(pod("b"), at=0.2)) == []
    assert await t.send(alert(pod("c"), at=0.5)) == []
    assert await t.tick(0.9) == []
    [grown] = await t.tick(1)  # the interval from its last revision
    assert (grown.id, grown.revision, grown.event) == (opened.id, 2, "updated")
    assert listed(grown) == ["a", "b", "c"]
    # Its latency counts from the first alert it held.
    assert grown.received_at == T0 + timedelta(seconds=0.2)
    assert await t.tick(60) == []  # nothing left held


async def test_growth_a_while_after_the_last_revision_goes_out_at_once() -> None:
    t = Triage(**SETTINGS)
    await t.send(alert(pod("a")))
    [grown] = await t.send(alert(pod("b"), at=1))
    assert listed(grown) == ["a", "b"]
    assert await t.send(alert(pod("c"), at=1.5)) == []  # within the interval of that one


async def test_alerts_that_keep_coming_release_the_growth_held_before_them() -> None:
    t = Triage(**SETTINGS)
    await t.send(alert(pod("a")))
    assert await t.send(alert(pod("b"), at=0.5)) == []
    [grown] = await t.send(alert(pod("c"), at=1.7))  # past the interval: no tick needed
    assert listed(grown) == ["a", "b", "c"] and grown.revision == 2


async def test_without_a_growth_hold_every_batch_gets_its_revision() -> None:
    t = Triage(**SETTINGS, growth_hold="0s")
    await t.send(alert(pod("a")))
    [grown] = await t.send(alert(pod("b"), at=0.2))
    assert listed(grown) == ["a", "b"]


async def test_a_priority_raise_goes_out_at_once_with_the_growth_held() -> None:
    t = Triage(**SETTINGS)
    [opened] = await t.send(alert(pod("a")))
    assert opened.priority == "P3"
    assert await t.send(alert(pod("b"), at=0.2)) == []
    [raised] = await t.send(alert(pod("db", "critical"), at=0.3))
    assert (raised.severity, raised.priority) == ("critical", "P1")
    assert listed(raised) == ["a", "b", "db"]
    assert await t.tick(5) == []  # the hold it cut short releases nothing more


async def test_a_member_resolving_goes_out_at_once_with_the_growth_held() -> None:
    t = Triage(**SETTINGS)
    await t.send(alert(pod("a")))
    assert await t.send(alert(pod("b"), at=0.2)) == []
    [changed] = await t.send(alert(pod("a"), "resolved", at=0.3))
    assert [a.status for a in changed.alerts] == ["resolved", "firing"]


async def test_resolve_and_reopen_go_out_at_once() -> None:
    t = Triage(**SETTINGS)
    await t.send(alert(pod("a")))
    assert await t.send(alert(pod("a"), "resolved", at=1)) == []  # the quiet period
    [resolved] = await t.tick(61)
    assert resolved.status == "resolved"
    [reopened] = await t.send(alert(pod("a"), at=62))
    assert reopened.event == "reopened"


async def test_an_alert_joining_an_incident_whose_members_all_resolved_goes_out_at_once() -> None:
    """Its resolve was pending (the quiet period): firing again is news."""
    t = Triage(**SETTINGS)
    await t.send(alert(pod("a")))
    await t.send(alert(pod("a"), "resolved", at=1))
    [back] = await t.send(alert(pod("b"), at=2))
    assert [a.status for a in back.alerts] == ["resolved", "firing"]


def symptom(name: str) -> dict[str, str]:
    return {"alertname": "KubePodNotReady", "namespace": name, "pod": name, "node": "w1"}


async def test_a_merge_goes_out_at_once_and_an_announced_incident_says_where_it_went() -> None:
    """An incident whose growth is held was announced: merged into one that was
    not (symptoms held for their cause), its last revision still goes out,
    and the incident it went into is announced with it."""
    t = Triage(
        causes={"rules": [RULE], "hold": "10s"},
        group_window="1m",
        growth_hold="10m",
        scoring={"classifier": False},
    )
    assert await t.send(alert(symptom("a"))) == []  # symptoms held for their cause
    [first] = await t.tick(10)
    assert first.event == "opened"
    assert await t.send(alert(symptom("b"), at=20)) == []  # growth, held
    # Too long after the first incident's last change to wait with it: a second
    # incident, held for the cause, larger than the first.
    for i, at in enumerate((100, 101, 102)):
        assert await t.send(alert(symptom(f"x{i}"), at=at)) == []
    out = await t.send(alert(NODE, at=105))  # their cause merges them
    by_id = {i.id: i for i in out}
    retired = by_id.pop(first.id)
    assert retired.merged_into is not None and retired.status == "resolved"
    [merged] = by_id.values()
    assert merged.id == retired.merged_into and merged.title.startswith("KubeNodeNotReady")
    assert len(merged.alerts) == 6
    assert await t.tick(1000) == []


async def test_a_held_revision_goes_out_after_a_restart() -> None:
    t = Triage(**SETTINGS)
    [opened] = await t.send(alert(pod("a")))
    assert await t.send(alert(pod("b"), at=0.2)) == []
    again = t.restored()  # from the changelog records written so far
    assert await again.tick(0.9) == []
    [grown] = await again.tick(1)
    assert (grown.id, grown.revision) == (opened.id, 3)  # a restore skips one number
    assert listed(grown) == ["a", "b"]


async def test_merging_an_incident_holding_growth_announces_the_one_it_goes_into() -> None:
    """Membership alone: whatever merges them, the alerts of an announced
    incident (its growth held or not) must not vanish into one nobody heard of."""
    key = IndexKey("c1", "t0", "node=w1")
    state = PartitionState()
    ctx = TriageContext(0, state)
    unheard = IncidentState("b", "k", T0, T0, waiting=key, announce_at=1, revision=0)
    growing = IncidentState("a", "k", T0, T0, waiting=key, announce_at=2, revision=2)
    state.incidents = {"a": growing, "b": unheard}
    Membership(100, timedelta(minutes=1)).merge(ctx, unheard, growing, 0, "same cause")
    assert unheard.announce_at is None and "b" in ctx.urgent
    await HoldStage().process(ctx)
    assert set(ctx.changed) == {"a", "b"}  # the merged one says where its alerts went


async def test_a_new_probable_root_goes_out_at_once() -> None:
    t = Triage(topology={"depends_on": {"api": ["db"]}}, scoring={"classifier": False})

    def on(service: str, name: str) -> dict[str, str]:
        # Critical from the start: priority P1 already, no raise to tell.
        return {"alertname": name, "service": service, "severity": "critical"}

    [opened] = await t.send(alert(on("api", "HighErrorRate")))
    assert opened.priority == "P1"
    [rooted] = await t.send(alert(on("db", "PostgresDown"), at=0.2))
    assert rooted.id == opened.id and rooted.title.startswith("PostgresDown")
    # Another alert on a service above the root names no new root: growth.
    assert await t.send(alert(on("api", "HighLatency"), at=0.3)) == []
