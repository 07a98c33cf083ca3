"""Symptoms waiting for their cause, and ``triage.causes.hold``: an incident of
symptoms is announced only when the hold has passed, unless its cause or an
alert that waits for nothing comes first."""

from __future__ import annotations

from typing import Any

from services.triage.state import duration_ms
from services.triage.statelog import PartitionRestorer
from tests.triage import Triage, alert

RULE = {
    "name": "node down",
    "source_matchers": ['alertname="KubeNodeNotReady"'],
    "target_matchers": ['alertname="KubePodNotReady"'],
    "equal": ["node"],
}
NODE = {"alertname": "KubeNodeNotReady", "node": "w1", "severity": "critical"}


def pod(name: str, namespace: str = "shop", node: str = "w1") -> dict[str, str]:
    return {"alertname": "KubePodNotReady", "namespace": namespace, "pod": name, "node": node}


def triage(hold: str, **settings: Any) -> Triage:
    return Triage(causes={"rules": [RULE], "hold": hold}, **settings)


async def test_without_a_hold_the_symptoms_incident_is_announced_at_once() -> None:
    t = triage("0s")
    [opened] = await t.send(alert(pod("a")))
    assert opened.event == "opened" and opened.title.startswith("KubePodNotReady")


async def test_a_cause_within_the_hold_is_named_in_the_first_announcement() -> None:
    t = triage("1m")
    assert await t.send(alert(pod("a"))) == []
    assert await t.send(alert(pod("b", "auth"), at=10)) == []  # waits with it
    [first] = await t.send(alert(NODE, at=30))
    assert first.revision == 1 and first.event == "opened"
    assert first.title.startswith("KubeNodeNotReady")
    assert sorted(a.labels.get("pod", "") for a in first.alerts) == ["", "a", "b"]
    assert await t.tick(120) == []  # the hold's end finds nothing left to announce


async def test_no_cause_within_the_hold_announces_the_symptoms() -> None:
    t = triage("1m")
    await t.send(alert(pod("a")), alert(pod("b", "auth"), at=10))
    assert await t.tick(59) == []
    [opened] = await t.tick(60)
    assert opened.event == "opened" and len(opened.alerts) == 2
    # Latency counts from the first alert, the hold included.
    assert opened.received_at == opened.opened_at
    [later] = await t.send(alert(NODE, at=90))
    assert later.id == opened.id and later.revision == 2


async def test_an_alert_that_waits_for_nothing_releases_the_incident() -> None:
    t = triage("1m", scopes=[["namespace"]])
    assert await t.send(alert(pod("a"))) == []
    [released] = await t.send(alert({"alertname": "KubeJobFailed", "namespace": "shop"}, at=5))
    assert released.revision == 1 and len(released.alerts) == 2
    assert await t.tick(60) == []


async def test_incidents_merged_while_held_are_never_announced() -> None:
    t = triage("5m", group_window="1m", scopes=[["namespace"]])
    # Too far apart to wait together: two held incidents, then their cause.
    await t.send(alert(pod("a")), alert(pod("b", "auth"), at=90))
    [only] = await t.send(alert(NODE, at=120))
    assert only.revision == 1 and only.merged_into is None and len(only.alerts) == 3
    assert len(t.latest()) == 1
    assert await t.tick(600) == []


async def test_a_hold_survives_a_restart() -> None:
    t = triage("1m")
    await t.send(alert(pod("a")))
    loader = PartitionRestorer(
        duration_ms(t.settings.flapping.settle), duration_ms(t.settings.lifecycle.retention)
    )
    for record in t.state_records:
        loader.apply(record.key, None if record.value is None else record.value.to_bytes())
    again = triage("1m")
    again.state = loader.build()
    assert await again.tick(30) == []
    [opened] = await again.tick(60)
    # The owner before may have announced it just before it died, unrecorded:
    # the announcement skips that number.
    assert opened.revision == 2 and opened.event == "opened"
