"""The triage chain: dedup, flapping and an incident's lifecycle."""

from __future__ import annotations

from shared.messages import IncidentEvent
from tests.triage import Triage, alert

DISK = {"alertname": "NodeFilesystemAlmostOutOfSpace", "node": "worker-1", "severity": "warning"}
DISK2 = {**DISK, "node": "worker-2", "severity": "critical"}
BY_NAME = [["alertname"]]


async def test_repeats_are_absorbed_and_status_changes_are_events() -> None:
    triage = Triage(lifecycle={"quiet_period": "0s"})
    [opened] = await triage.send(alert(DISK))
    assert (opened.revision, opened.event, opened.priority) == (1, "opened", "P3")
    # Alertmanager re-sends: same status, nothing new, no state written either.
    written = len(triage.state_records)
    assert await triage.send(alert(DISK, at=30), alert(DISK, at=60)) == []
    assert len(triage.state_records) == written
    [resolved] = await triage.send(alert(DISK, "resolved", at=90))
    assert (resolved.id, resolved.revision, resolved.event) == (opened.id, 2, "resolved")
    assert resolved.alerts[0].status == "resolved"
    # Re-sent resolves are absorbed too.
    assert await triage.send(alert(DISK, "resolved", at=120)) == []


async def test_resolve_of_unknown_alert_changes_nothing() -> None:
    assert await Triage().send(alert(DISK, "resolved")) == []


async def test_ignored_labels_leave_the_identity_of_prometheus_pushes() -> None:
    triage = Triage(dedup={"ignore_labels": ["prometheus_replica"]})
    a = alert({**DISK, "prometheus_replica": "a"}, source="prometheus")
    b = alert({**DISK, "prometheus_replica": "b"}, at=15, source="prometheus")
    assert len(await triage.send(a)) == 1
    assert await triage.send(b) == []


async def test_a_batch_of_changes_to_one_incident_is_one_revision() -> None:
    triage = Triage(scopes=BY_NAME)
    [incident] = await triage.send(alert(DISK), alert(DISK2, at=1), alert(DISK, at=2))
    assert incident.revision == 1
    assert {a.labels["node"] for a in incident.alerts} == {"worker-1", "worker-2"}
    assert incident.severity == "critical"


async def test_incident_resolves_after_the_quiet_period_and_a_refire_reopens_it() -> None:
    triage = Triage(scopes=BY_NAME, lifecycle={"quiet_period": "5m", "reopen_window": "30m"})
    [opened] = await triage.send(alert(DISK), alert(DISK2, at=10))
    [partial] = await triage.send(alert(DISK2, "resolved", at=60))
    assert partial.status == "firing" and partial.event == "updated"
    # The last member resolving is held back for the quiet period...
    assert await triage.send(alert(DISK, "resolved", at=120)) == []
    assert await triage.tick(at=120 + 299) == []
    # ...and a blip inside it is not news at all.
    assert await triage.send(alert(DISK, at=200), alert(DISK, "resolved", at=230)) == []
    [resolved] = await triage.tick(at=230 + 300)
    assert (resolved.id, resolved.event, resolved.status) == (opened.id, "resolved", "resolved")
    assert resolved.resolved_at is not None
    assert (resolved.resolved_at - resolved.updated_at).total_seconds() == 300
    [reopened] = await triage.send(alert(DISK, at=530 + 600))
    assert (reopened.id, reopened.event, reopened.status) == (opened.id, "reopened", "firing")
    assert any("reopened" in line for line in reopened.explanation)


async def test_refire_after_the_reopen_window_opens_a_new_incident() -> None:
    triage = Triage(lifecycle={"quiet_period": "0s", "reopen_window": "10m"})
    [first] = await triage.send(alert(DISK))
    await triage.send(alert(DISK, "resolved", at=60))
    [second] = await triage.send(alert(DISK, at=60 + 11 * 60))
    assert second.id != first.id and second.event == IncidentEvent.OPENED


async def test_flapping_alert_is_reported_once_then_quiet_until_it_settles() -> None:
    triage = Triage(
        scopes=BY_NAME,
        flapping={"changes": 3, "window": "10m", "settle": "5m"},
        lifecycle={"quiet_period": "1m"},
    )
    [opened] = await triage.send(alert(DISK), alert(DISK2))
    statuses = ["resolved", "firing", "resolved", "firing", "resolved", "firing"]
    out = []
    for i, status in enumerate(statuses, start=1):
        out += await triage.send(alert(DISK, status, at=30 * i))
    # Three real changes, then the fourth marks it flapping; then silence.
    assert [i.event for i in out] == ["updated"] * 4
    assert not out[2].flapping and out[3].flapping
    assert any("flapping" in line for line in out[3].explanation)
    assert await triage.tick(at=180 + 299) == []
    [settled] = await triage.tick(at=180 + 300)
    assert not settled.flapping and settled.status == "firing"
    assert any("settled" in line for line in settled.explanation)
    # Settled: its next change is an ordinary event again.
    [resolved] = await triage.send(alert(DISK, "resolved", at=600))
    assert resolved.id == opened.id


async def test_flapping_alert_that_settles_resolved_resolves_its_incident() -> None:
    triage = Triage(
        flapping={"changes": 2, "window": "10m", "settle": "5m"},
        lifecycle={"quiet_period": "1m"},
    )
    await triage.send(alert(DISK))
    for i, status in enumerate(["resolved", "firing", "resolved", "firing", "resolved"], 1):
        await triage.send(alert(DISK, status, at=10 * i))
    [resolved] = await triage.tick(at=50 + 300)
    assert resolved.status == "resolved" and not resolved.flapping


async def test_resolved_state_expires_after_retention() -> None:
    triage = Triage(
        scopes=BY_NAME, lifecycle={"quiet_period": "0s", "reopen_window": "1m", "retention": "1h"}
    )
    await triage.send(alert(DISK), alert(DISK2))
    await triage.send(alert(DISK, "resolved", at=60), alert(DISK2, "resolved", at=60))
    assert len(triage.state.alerts) == 2 and len(triage.state.incidents) == 1
    await triage.tick(at=60 + 3600)
    assert triage.state.alerts == {} and triage.state.incidents == {}
    assert triage.state.index == {}
    tombstones = [r.key for r in triage.state_records[-3:] if r.value is None]
    assert len(tombstones) == 3


async def test_results_do_not_depend_on_batching() -> None:
    names = ["KubePodCrashLooping", "KubePodNotReady", "KubeContainerWaiting"]
    alerts = [
        alert({"alertname": names[i % 3], "namespace": f"ns{i % 4}", "pod": f"p{i}"}, at=i * 20)
        for i in range(24)
    ] + [alert({"alertname": "KubePodNotReady", "namespace": "ns1", "pod": "p1"}, "resolved", 500)]
    one, many = Triage(), Triage()
    await one.send(*alerts)
    for a in alerts:
        await many.send(a)
    assert sorted(map(sorted, one.groups())) == sorted(map(sorted, many.groups()))
    assert set(one.latest()) == set(many.latest())
