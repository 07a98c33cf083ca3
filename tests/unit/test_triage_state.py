"""Triage state survives through its changelog records: restore, then carry on."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from services.triage.emit import COPIED
from services.triage.records import IncidentRecord
from services.triage.stages import TriageContext
from services.triage.state import IncidentState, PartitionState
from services.triage.statelog import KEPT, PartitionRestorer
from shared import codec
from shared.kafka.state import LatestValues, UnreadableValue
from shared.messages import Alert, Incident
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


@pytest.mark.parametrize("version", [2, 1])
async def test_restored_state_carries_on_as_if_nothing_happened(version: int) -> None:
    """Also from a changelog written before alert records carried members."""
    alerts = storm()
    straight = Triage(**SETTINGS)
    for a in alerts:
        await straight.send(a)
    for cut in range(1, len(alerts)):
        first = Triage(**SETTINGS)
        for a in alerts[:cut]:
            await first.send(a)
        written = first if version == 2 else as_version_1(first)
        second = written.restored()
        restored = set(second.state.incidents)
        for a in alerts[cut:]:
            await second.send(a)
        combined = {**first.latest(), **second.latest()}
        # Members are listed alike too: restored members are kept the way
        # triage keeps its own (one shared fields set), and encode the same.
        assert {i: (r.revision, r.status, r.to_bytes()) for i, r in combined.items()} == {
            i: (r.revision, r.status, r.to_bytes())
            for i, r in renumbered(straight, restored, second).items()
        }, f"cut after {cut} alerts"
        # The incidents changed since list their members by reference, the
        # others stay as they were written: the changelog reads as one.
        second.state_records[:0] = written.state_records
        again = second.restored()
        assert {i: list(s.members) for i, s in again.state.incidents.items()} == {
            i: list(s.members) for i, s in second.state.incidents.items()
        }, f"cut after {cut} alerts"


async def test_members_past_the_listed_ones_are_counted_through_a_cause_and_a_restore() -> None:
    """An incident lists ``max_alerts`` members and counts the others; the
    cause taking its symptoms, and a restore at any point, keep both right."""
    pods = [
        alert({"alertname": "KubePodNotReady", "namespace": "shop", "pod": f"p{i}", "node": "w1"})
        for i in range(4)
    ]
    node = alert({"alertname": "KubeNodeNotReady", "node": "w1", "severity": "critical"}, at=10)
    alerts = [*pods, node, alert(pods[0].labels, "resolved", at=20)]
    settings = {**SETTINGS, "max_alerts": 2, "growth_hold": "0s"}
    straight = Triage(**settings)
    for a in alerts:
        await straight.send(a)
    [incident] = straight.latest().values()
    assert (len(incident.alerts), incident.truncated_alerts) == (2, 3)
    assert incident.title.endswith("(+4 more)")
    for cut in range(1, len(alerts)):
        first = Triage(**settings)
        for a in alerts[:cut]:
            await first.send(a)
        second = first.restored()
        restored = set(second.state.incidents)
        for a in alerts[cut:]:
            await second.send(a)
        combined = {**first.latest(), **second.latest()}
        assert {i: r.to_bytes() for i, r in combined.items()} == {
            i: r.to_bytes() for i, r in renumbered(straight, restored, second).items()
        }, f"cut after {cut} alerts"


def renumbered(straight: Triage, restored: set[str], after: Triage) -> dict[str, Incident]:
    """What a run straight through wrote last, numbered as a restore numbers
    it: the first revision after the restore of an incident the restored
    state held skips one number (see ``emit.next_number``)."""
    return {
        i: r.model_copy(update={"revision": r.revision + 1})
        if i in restored and i in after.latest()
        else r
        for i, r in straight.latest().items()
    }


async def test_redelivered_batch_after_restore_changes_nothing() -> None:
    alerts = storm()
    first = Triage(**SETTINGS)
    await first.send(*alerts[:6])
    second = first.restored()
    # The batch was written but its offsets not committed: it comes again.
    assert await second.send(*alerts[:6]) == []
    assert second.state_records == []


async def test_revisions_written_before_a_crash_are_not_numbered_again() -> None:
    """Revisions are acknowledged before the state that records them. A worker
    killed in between leaves state that has not seen them, and the batch comes
    again, here with a later record: what it writes then must not reuse a
    number the receivers may hold, with more in it."""
    pods = [
        alert({"alertname": "KubePodNotReady", "namespace": "shop", "pod": f"p{i}", "node": "w1"})
        for i in range(3)
    ]
    disk = alert({"alertname": "DiskFull", "instance": "db-1"}, at=1)
    batch = [pods[2], disk]
    later = [alert(pods[0].labels, "resolved", at=2)]
    settings = {**SETTINGS, "growth_hold": "0s"}
    straight = Triage(**settings)
    for a in [*pods[:2], *batch, *later]:
        await straight.send(a)

    first = Triage(**settings)
    await first.send(*pods[:2])
    recorded = len(first.state_records)
    written = await first.send(*batch)
    del first.state_records[recorded:]  # killed before its state was acknowledged
    assert sorted(r.revision for r in written) == [1, 2]

    second = first.restored()
    again = await second.send(*batch, *later, redelivered=True)
    assert sorted(r.revision for r in again) == [2, 3]
    # The incident the batch opened is announced again past the number it had.
    opened = {(r.event, r.alerts[0].labels["alertname"]) for r in again if r.revision == 2}
    assert opened == {("opened", "DiskFull")}
    numbered: dict[tuple[str, int], bytes] = {}
    for revision in [*first.revisions, *second.revisions]:
        key, value = (revision.id, revision.revision), revision.to_bytes()
        assert numbered.setdefault(key, value) == value, f"{key} written twice, differently"
    # Each incident's last revision is the run straight through's, numbered past.
    assert {i: (r.status, r.alerts) for i, r in second.latest().items()} == {
        i: (r.status, r.alerts) for i, r in straight.latest().items()
    }


async def test_timers_survive_a_restore() -> None:
    first = Triage(**SETTINGS)
    await first.send(*storm()[:9])  # everything resolved, quiet period running
    second = first.restored()
    [resolved] = await second.tick(at=90 + 60)
    assert resolved.status == "resolved"
    # Past the number the owner before may have written before it died.
    assert resolved.revision == first.latest()[resolved.id].revision + 2


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
    # ``listed``: the members by reference; ``members``: a version 1 record's.
    record_fields = set(IncidentRecord.model_fields) - {"schema_version", "listed"}
    assert record_fields <= state_fields
    assert set(KEPT) <= state_fields
    assert set(COPIED) <= state_fields


def latest_values(t: Triage) -> dict[str, Any]:
    """The changelog as compaction leaves it: each key's last value, decoded."""
    log = LatestValues()
    for record in t.state_records:
        log.apply(record.key, None if record.value is None else record.value.to_bytes())
    return {key: json.loads(value) for key, value in log.values.items()}


def as_version_1(t: Triage) -> Triage:
    """``t`` with its changelog as triage wrote it before alert records
    carried members: each incident record holding its members."""
    values = latest_values(t)
    old = Triage(**SETTINGS)
    template = t.state_records[0]
    old.state_records = [
        template._replace(key=key, value=_Bytes(json.dumps(_v1(key, value, values)).encode()))
        for key, value in values.items()
    ]
    return old


def _v1(key: str, value: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    if key.startswith("a/"):
        return {k: v for k, v in value.items() if k != "member"}
    head = {k: v for k, v in value.items() if k != "listed"}
    members = [values[f"a/{fp}"]["member"] for fp in value["listed"]]
    return {**head, "schema_version": 1, "members": members}


class _Bytes(bytes):
    def to_bytes(self) -> bytes:
        return bytes(self)


async def test_a_busy_incident_writes_the_alert_that_joined_not_the_list_again() -> None:
    t = Triage(**SETTINGS, growth_hold="0s")  # its growth out at once
    pods = [
        {"alertname": "KubePodNotReady", "namespace": "shop", "pod": p, "node": "w1"}
        for p in ("p0", "p1", "p2")
    ]
    [opened] = await t.send(alert(pods[0]), alert(pods[1]))
    t.state_records.clear()
    [grown] = await t.send(alert(pods[2], at=1))
    assert grown.id == opened.id and len(grown.alerts) == 3  # the revision lists them all
    joined = grown.alerts[2]
    written = {r.key: json.loads(r.value.to_bytes()) for r in t.state_records if r.value}
    assert set(written) == {f"a/{joined.fingerprint}", f"i/{opened.id}"}
    assert written[f"a/{joined.fingerprint}"]["member"] == joined.model_dump(
        mode="json", exclude_none=True
    )
    assert written[f"i/{opened.id}"]["listed"] == [a.fingerprint for a in grown.alerts]
    assert "members" not in written[f"i/{opened.id}"]


async def test_every_listed_member_is_in_its_alerts_record() -> None:
    """Members that leave a list (merged, moved, expired) leave their alert's record."""
    alerts = storm()
    t = Triage(**SETTINGS)
    for a in alerts:
        await t.send(a)
        assert members_held(t) == members_listed(t)
    await t.send(alert(alerts[-1].labels, "resolved", at=300))
    await t.tick(400)  # resolved after the quiet period
    await t.tick(400 + 2 * 3600)  # and its alerts forgotten after the retention
    assert members_held(t) == members_listed(t)


def members_held(t: Triage) -> set[tuple[str, str]]:
    """(incident, fingerprint) of every alert record carrying a member."""
    return {
        (value["incident"], value["member"]["fingerprint"])
        for key, value in latest_values(t).items()
        if key.startswith("a/") and "member" in value
    }


def members_listed(t: Triage) -> set[tuple[str, str]]:
    return {
        (value["id"], fp)
        for key, value in latest_values(t).items()
        if key.startswith("i/")
        for fp in value["listed"]
    }


def test_a_member_listed_in_the_batch_reads_as_its_encoding() -> None:
    """Scoring reads the members a batch listed from the models they were
    encoded from (``TriageContext.member``): the same as reading them back."""
    pod = alert({"alertname": "KubePodNotReady", "namespace": "shop", "pod": "p0"}, at=5)
    incident = IncidentState("i", "k", pod.received_at, pod.received_at)
    batch = TriageContext(0, PartitionState())
    batch.list_member(incident, pod, pod.fingerprint)
    listed = incident.members[pod.fingerprint]
    later = TriageContext(0, PartitionState())  # a batch that did not list it
    assert batch.member(pod.fingerprint, listed) == later.member(pod.fingerprint, listed)
    assert later.member(pod.fingerprint, listed) == codec.read_member(listed)
    assert codec.read_member(listed).labels == pod.labels
