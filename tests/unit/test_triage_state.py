"""Triage state survives through its changelog records: restore, then carry on."""

from __future__ import annotations

import dataclasses

import pytest

from services.triage.emit import COPIED
from services.triage.records import IncidentRecord
from services.triage.state import IncidentState
from services.triage.statelog import KEPT, PartitionRestorer
from shared.kafka.state import UnreadableValue
from shared.messages import Alert
from tests.triage import Triage, alert

RULE = {
    "source_matchers": ['alertname="KubeNodeNotReady"'],
    "target_matchers": ['alertname="KubePodNotReady"'],
    "equal": ["node"],
}
SETTINGS = {
    "causes": {"rules": [RULE]},
    "flapping": {"changes": 2, "window": "10m", "settle": "5m"},
    "lifecycle": {"quiet_period": "1m", "reopen_window": "10m", "retention": "1h"},
}


def storm() -> list[Alert]:
    node = {"alertname": "KubeNodeNotReady", "node": "w1", "severity": "critical"}
    pods = [{"alertname": "KubePodNotReady", "namespace": "shop", "pod": "p0", "node": "w1"}]
    flappy = {"alertname": "CPUThrottlingHigh", "namespace": "batch", "pod": "cron"}
    return [
        alert(pods[0]),
        alert(flappy, at=5),
        alert(node, at=10),
        alert(flappy, "resolved", at=20),
        alert(pods[0], at=25),  # Alertmanager re-send
        alert(flappy, at=30),
        alert(flappy, "resolved", at=40),
        alert(pods[0], "resolved", at=60),
        alert(node, "resolved", at=90),
        alert(node, at=200),  # refire after the quiet period: reopens
    ]


async def test_restored_state_carries_on_as_if_nothing_happened() -> None:
    alerts = storm()
    straight = Triage(**SETTINGS)
    for a in alerts:
        await straight.send(a)
    for cut in range(1, len(alerts)):
        first = Triage(**SETTINGS)
        for a in alerts[:cut]:
            await first.send(a)
        second = first.restored()
        for a in alerts[cut:]:
            await second.send(a)
        combined = {**first.latest(), **second.latest()}
        # Members are listed alike too: restored members are kept the way
        # triage keeps its own (one shared fields set), and encode the same.
        assert {i: (r.revision, r.status, r.to_bytes()) for i, r in combined.items()} == {
            i: (r.revision, r.status, r.to_bytes()) for i, r in straight.latest().items()
        }, f"cut after {cut} alerts"


async def test_redelivered_batch_after_restore_changes_nothing() -> None:
    alerts = storm()
    first = Triage(**SETTINGS)
    await first.send(*alerts[:6])
    second = first.restored()
    # The batch was written but its offsets not committed: it comes again.
    assert await second.send(*alerts[:6]) == []
    assert second.state_records == []


async def test_timers_survive_a_restore() -> None:
    first = Triage(**SETTINGS)
    await first.send(*storm()[:9])  # everything resolved, quiet period running
    second = first.restored()
    [resolved] = await second.tick(at=90 + 60)
    assert resolved.status == "resolved"
    assert resolved.revision == first.latest()[resolved.id].revision + 1


def test_an_unreadable_state_record_fails_the_restore_unless_a_later_one_replaced_it() -> None:
    loader = PartitionRestorer(1000, 1000)
    loader.apply("i/inc-1", b'{"id": "inc-1"')  # cut short
    with pytest.raises(UnreadableValue, match="i/inc-1"):
        loader.build()
    loader.apply("i/inc-1", None)  # a tombstone repairs it: it was never the state
    assert loader.build().incidents == {}


def test_a_state_record_and_a_revision_are_copied_from_the_state_by_field_name() -> None:
    """One shape: the record's fields (and the revision's, but for those worked
    out by emit) are the incident state's fields of the same names."""
    state_fields = {f.name for f in dataclasses.fields(IncidentState)}
    assert set(IncidentRecord.model_fields) - {"schema_version"} <= state_fields
    assert set(KEPT) <= state_fields
    assert set(COPIED) <= state_fields
