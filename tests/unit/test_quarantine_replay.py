"""Which quarantined records ``corral quarantine replay`` writes back, and which it leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord

from services.corral.quarantine import Selection, to_replay, why_not_replayable
from shared.kafka.quarantine import Quarantine
from shared.messages.quarantine import Quarantined

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def entry(**fields: object) -> Quarantined:
    values: dict[str, object] = {
        "worker": "triage",
        "stage": "correlate",
        "error": "RuntimeError: a bug",
        "topic": "corral.alerts",
        "partition": 2,
        "offset": 41,
        "key": "cluster-1",
        "value": b'{"labels": {}}',
        "size": 14,
        "input": True,
        "quarantined_at": T0,
    }
    return Quarantined.model_validate({**values, **fields})


def record(value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        "corral.alerts", 2, 41, 0, 0, b"cluster-1", value, None, len(b"cluster-1"), len(value), ()
    )


def test_an_input_a_stage_failed_on_is_kept_whole_and_marked_as_input() -> None:
    quarantine = Quarantine("triage", "corral.quarantine", 1_048_588)
    quarantine.input("correlate", RuntimeError("a bug"), record(b'{"labels": {}}'))
    pending = quarantine.pending[0].value
    assert isinstance(pending, Quarantined)
    written = Quarantined.from_bytes(pending.to_bytes())
    assert written.input and not written.truncated
    assert why_not_replayable(written) is None
    assert (written.topic, written.partition, written.offset, written.key) == (
        "corral.alerts",
        2,
        41,
        "cluster-1",
    )


def test_outputs_incident_states_and_cut_values_are_not_replayed() -> None:
    refused_output = entry(stage="publish", output_topic="corral.incidents", input=False)
    incident_state = entry(stage="score", key="inc-1", input=False)
    cut = entry(truncated=True, size=2_000_000)
    for item in (refused_output, incident_state, cut):
        assert why_not_replayable(item) is not None
    assert to_replay([refused_output, incident_state, cut]) == []


def test_the_same_input_quarantined_twice_is_replayed_once() -> None:
    first = entry()
    again = entry(quarantined_at=T0 + timedelta(minutes=5))
    other = entry(offset=42)
    assert to_replay([first, again, other]) == [first, other]


def test_selection_by_worker_stage_and_age() -> None:
    old = entry(quarantined_at=T0 - timedelta(days=2))
    notify = entry(worker="notify", stage="admit", topic="corral.incidents")
    decode = entry(stage="decode")
    items = [old, notify, decode, entry()]
    assert [e for e in items if Selection(worker="notify")(e)] == [notify]
    assert [e for e in items if Selection(stage="decode")(e)] == [decode]
    recent = Selection(since=T0 - timedelta(days=1))
    assert old not in [e for e in items if recent(e)]
