"""The simplest triage chain: dedup, group, score, emit."""

from datetime import UTC, datetime, timedelta

from services.triage.dedup import DedupStage
from services.triage.emit import EmitStage
from services.triage.grouping import GroupStage
from services.triage.scoring.settings import ScoringSettings
from services.triage.scoring.stage import ScoringStage
from services.triage.stages import Chain, TriageContext
from services.triage.state import PartitionState
from shared.fingerprint import fingerprint
from shared.messages import Alert, AlertStatus, Incident

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CHAIN = Chain(
    [
        DedupStage(),
        GroupStage(["alertname", "cluster"], timedelta(minutes=5)),
        ScoringStage(ScoringSettings(classifier=False)),
        EmitStage("incidents"),
    ]
)


def alert(
    node: str,
    status: str = "firing",
    at: int = 0,
    severity: str = "warning",
    name: str = "NodeDiskFull",
) -> Alert:
    labels = {"alertname": name, "cluster": "c1", "node": node, "severity": severity}
    return Alert(
        fingerprint=fingerprint(labels),
        status=AlertStatus(status),
        labels=labels,
        source="alertmanager",
        received_at=T0 + timedelta(seconds=at),
    )


async def run(state: PartitionState, *alerts: Alert) -> list[Incident]:
    ctx = TriageContext(0, state, list(alerts))
    await CHAIN.process(ctx)
    return [r.value for r in ctx.records]  # type: ignore[misc]


async def test_repeats_are_absorbed_and_status_changes_are_events() -> None:
    state = PartitionState()
    [opened] = await run(state, alert("n1"))
    assert (opened.revision, opened.event, opened.priority) == (1, "opened", "P3")
    assert await run(state, alert("n1", at=30), alert("n1", at=60)) == []
    [resolved] = await run(state, alert("n1", "resolved", at=90))
    assert (resolved.id, resolved.revision, resolved.status) == (opened.id, 2, "resolved")


async def test_alerts_of_one_group_join_one_incident_and_raise_its_severity() -> None:
    state = PartitionState()
    [first] = await run(state, alert("n1"))
    [second] = await run(state, alert("n2", at=60, severity="critical"))
    assert second.id == first.id
    assert second.severity == "critical" and second.priority == "P1"
    assert {a.labels["node"] for a in second.alerts} == {"n1", "n2"}
    assert second.labels == {"alertname": "NodeDiskFull", "cluster": "c1"}
    assert any("joined" in line for line in second.explanation)
    # Still firing while one member fires.
    [partial] = await run(state, alert("n1", "resolved", at=90))
    assert partial.status == "firing"
    [done] = await run(state, alert("n2", "resolved", at=120, severity="critical"))
    assert done.status == "resolved" and done.event == "resolved"


async def test_other_groups_and_late_alerts_open_new_incidents() -> None:
    state = PartitionState()
    [a] = await run(state, alert("n1"))
    [b] = await run(state, alert("n1", name="NodeDown", at=10))
    [c] = await run(state, alert("n3", at=10 * 60))  # outside the 5m window
    assert len({a.id, b.id, c.id}) == 3


async def test_resolve_of_unknown_alert_changes_nothing() -> None:
    assert await run(PartitionState(), alert("n9", "resolved")) == []


async def test_same_input_gives_same_incident_ids() -> None:
    first = await run(PartitionState(), alert("n1"), alert("n2", at=1))
    again = await run(PartitionState(), alert("n1"), alert("n2", at=1))
    assert [i.id for i in first] == [i.id for i in again]
