"""Every hand encoder in ``shared.codec`` writes what the model itself writes.

Hypothesis generates the inputs: any text in labels, annotations and ids
(quotes, escapes, non-ASCII), unset optional fields, and members shared
between revisions, changed or dropped, so encodings are reused through the
caches as the workers reuse them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.notify.entry import SentLogEntry
from services.notify.payload import WEBHOOK_VERSION, incident_body
from services.notify.sentlog import KafkaSentLog
from services.triage.records import AlertRecord, IncidentRecord
from services.triage.state import IncidentState, IndexKey
from services.triage.statelog import AlertValue, incident_record, incident_state
from shared import codec
from shared.cache import BoundedCache
from shared.messages import Alert, AlertStatus, Incident, IncidentAlert, IncidentStatus
from shared.normalize import SOURCE_ALERTMANAGER, SOURCE_PROMETHEUS

text = st.text(max_size=12)
labels = st.dictionaries(text, text, max_size=4)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
optional_times = st.none() | times
statuses = st.sampled_from(AlertStatus)


@st.composite
def members(draw: st.DrawFn, words: st.SearchStrategy[str] = text) -> IncidentAlert:
    names = st.dictionaries(words, words, max_size=4)
    return IncidentAlert(
        fingerprint=draw(words),
        status=draw(statuses),
        labels=draw(names),
        annotations=draw(names),
        starts_at=draw(optional_times),
        ends_at=draw(optional_times),
        generator_url=draw(words),
    )


@st.composite
def incidents(draw: st.DrawFn, alerts: list[IncidentAlert] | None = None) -> Incident:
    status = draw(st.sampled_from(IncidentStatus))
    return Incident(
        id=draw(text),
        revision=draw(st.integers(1, 10**6)),
        event="resolved" if status == IncidentStatus.RESOLVED else "updated",
        status=status,
        correlation_key=draw(text),
        title=draw(text),
        labels=draw(labels),
        truncated_alerts=draw(st.integers(0, 100)),
        severity=draw(st.sampled_from(["critical", "warning", "info"])),
        priority=draw(st.sampled_from(["P1", "P2", "P3", "P4", "P5"])),
        score=draw(st.integers(0, 100)),
        explanation=draw(st.lists(text, max_size=3)),
        root_cause=draw(st.none() | text),
        flapping=draw(st.booleans()),
        merged_into=draw(st.none() | text),
        opened_at=draw(times),
        updated_at=draw(times),
        resolved_at=draw(optional_times),
        received_at=draw(optional_times),
        alerts=alerts if alerts is not None else draw(st.lists(members(), max_size=4)),
    )


@given(
    source=st.sampled_from([SOURCE_ALERTMANAGER, SOURCE_PROMETHEUS]),
    received_at=times,
    group_key=st.none() | text,
    receiver=st.none() | text,
    external_url=st.none() | text,
    member=members(),
)
def test_an_alert_written_from_request_fields_is_the_alert_model(
    source: str,
    received_at: datetime,
    group_key: str | None,
    receiver: str | None,
    external_url: str | None,
    member: IncidentAlert,
) -> None:
    envelope = codec.alert_envelope(source, received_at, group_key, receiver, external_url)
    data = codec.alert(
        envelope,
        member.fingerprint,
        member.status.value,
        member.labels,
        member.annotations,
        member.starts_at,
        member.ends_at,
        member.generator_url,
    )
    model = Alert(
        **member.model_dump(),
        source=source,
        received_at=received_at,
        group_key=group_key,
        receiver=receiver,
        external_url=external_url,
    )
    assert data == model.to_bytes()


@given(
    status=statuses,
    incident=st.none() | text,
    changed_at=st.integers(0, 2**53),
    changes=st.lists(st.integers(0, 2**53), max_size=4),
    flapping=st.booleans(),
    ends_at=st.none() | st.integers(0, 2**53),
    member=st.none() | members(),
)
def test_an_alert_record_written_without_the_model_is_the_model(
    status: AlertStatus,
    incident: str | None,
    changed_at: int,
    changes: list[int],
    flapping: bool,
    ends_at: int | None,
    member: IncidentAlert | None,
) -> None:
    data = codec.alert_record(
        AlertRecord.SCHEMA_VERSION, status.value, incident, changed_at, changes, flapping, ends_at
    )
    if member is not None:  # an alert its incident lists: the member spliced in
        data = AlertValue(data, codec.compact(member)).to_bytes()
    model = AlertRecord(
        status=status,
        incident=incident,
        changed_at=changed_at,
        changes=changes,
        flapping=flapping,
        ends_at=ends_at,
        member=member,
    )
    assert data == model.to_bytes()


@given(member=members(), fingerprint=text)
def test_a_listed_member_is_the_validated_model(member: IncidentAlert, fingerprint: str) -> None:
    """Built from an alert without validating it again: the same member, the
    same bytes, as the model validating those fields makes."""
    alert = Alert(**member.model_dump(), source=SOURCE_ALERTMANAGER, received_at=datetime.now(UTC))
    shown = codec.listed(alert, fingerprint)
    plain = IncidentAlert(**{**member.model_dump(), "fingerprint": fingerprint})
    assert shown == plain
    assert codec.compact(shown) == codec.compact(plain)
    assert shown.model_fields_set == plain.model_fields_set
    # As an incident holds it, and reads it back.
    assert codec.compact(shown) == plain.model_dump_json(exclude_none=True).encode()
    assert codec.read_member(codec.compact(shown)) == plain


@given(incident=incidents())
def test_a_revision_listing_its_members_encoded_is_written_as_the_model_writes_it(
    incident: Incident,
) -> None:
    # As triage writes one: the revision without its alerts, and the members
    # as its incident holds them.
    head = incident.model_copy(update={"alerts": []})
    items = [codec.compact(member) for member in incident.alerts]
    written = codec.with_listing(head, "alerts", items)
    assert written == incident.to_bytes()
    assert codec.Listed(head, "alerts", items).to_bytes() == written
    assert Incident.from_bytes(written) == incident


# Index keys are kept as text joined by \x1f: the boundary (an alert's record
# key) and the kind (Corral's own) never hold one; the compared text may.
key_parts = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x1f"), max_size=8)


@given(incident=incidents(), keys=st.lists(st.tuples(key_parts, key_parts, text), max_size=3))
def test_a_state_record_is_written_as_the_model_writes_it(
    incident: Incident, keys: list[tuple[str, str, str]]
) -> None:
    state = IncidentState(
        id=incident.id,
        correlation_key=incident.correlation_key,
        opened_at=incident.opened_at,
        updated_at=incident.updated_at,
        members={m.fingerprint: codec.compact(m) for m in incident.alerts},
        revision=incident.revision,
        status=incident.status,
        resolved_at=incident.resolved_at,
        explanation=incident.explanation,
        root_cause=incident.root_cause,
        common_labels=incident.labels,
        keys=dict.fromkeys(IndexKey(*key) for key in keys),
        anchors={IndexKey(*key): incident.id for key in keys},
        resolve_due=incident.truncated_alerts or None,
    )
    record = incident_record(state)
    written = record.to_bytes()
    # ``incident_record`` builds the record unvalidated; the model, validated:
    validated = IncidentRecord.model_validate(record.model_dump())
    assert written == validated.to_bytes()
    # Its members are in its alerts' records, as the revision lists them.
    restored = incident_state(IncidentRecord.from_bytes(written), dict(state.members))
    assert (restored.keys, restored.anchors, restored.members) == (
        state.keys,
        state.anchors,
        state.members,
    )
    assert list(restored.members) == list(state.members)  # in the order listed


@given(
    incident=incidents(),
    revision=st.integers(0, 10),
    attempting=st.integers(0, 10),
    route=st.none() | text,
)
def test_a_sent_log_entry_is_written_as_the_model_writes_it(
    incident: Incident, revision: int, attempting: int, route: str | None
) -> None:
    entry = SentLogEntry(
        incident_id=incident.id,
        receiver="oncall",
        integration="webhook/0",
        revision=revision,
        attempting=attempting,
        route=route,
        incident=incident,
    )
    # The incident is a record of its own; the entry names its revision.
    named = entry.model_copy(update={"incident": None, "holds": incident.revision})
    assert KafkaSentLog.encode(entry) == named.to_bytes()
    bare = entry.model_copy(update={"incident": None})
    assert KafkaSentLog.encode(bare) == bare.to_bytes()
    assert SentLogEntry.from_bytes(KafkaSentLog.encode(entry)) == named


@given(incident=incidents(), receiver=text, repeat=st.booleans())
def test_the_webhook_body_is_the_envelope_then_the_incident(
    incident: Incident, receiver: str, repeat: bool
) -> None:
    body = json.loads(incident_body(incident, receiver, repeat))
    expected = {
        "version": WEBHOOK_VERSION,
        "receiver": receiver,
        "repeat": repeat,
        "notification": "trigger",
        "escalation_step": None,
        "changes": None,
        **incident.model_dump(mode="json", exclude={"schema_version", "received_at"}),
    }
    assert body == expected
    assert list(body) == list(expected)


# Notify reading incidents: ``read_incident`` and ``without_members``.

# Text that looks like the bytes the reader splits on, in keys and values.
tricky = text | st.sampled_from(
    ["fingerprint", "alerts", "id", '},{"fingerprint":"', ',"alerts":[', "]}", "\\"]
)


@settings(max_examples=300)
@given(data=st.data())
def test_an_incident_is_read_as_the_model_reads_it(data: st.DataObject) -> None:
    listings: codec.Listings = BoundedCache(2)
    first = data.draw(incidents(alerts=data.draw(st.lists(members(tricky), max_size=5))))
    # The next revisions keep some members, change or drop others, add new ones.
    revisions = [first]
    for _ in range(data.draw(st.integers(1, 3))):
        kept = [
            m if data.draw(st.booleans()) else m.model_copy(update={"status": AlertStatus.RESOLVED})
            for m in data.draw(st.permutations(revisions[-1].alerts))
            if data.draw(st.booleans())
        ]
        added = data.draw(st.lists(members(tricky), max_size=3))
        revisions.append(first.model_copy(update={"alerts": kept + added}))
    for revision in revisions:
        written = [revision.to_bytes(), json.dumps(revision.model_dump(mode="json")).encode()]
        for value in written:
            plain = Incident.from_bytes(value)
            read = codec.read_incident(value, listings)
            assert read == plain
            assert read.to_bytes() == plain.to_bytes()
            assert [m.model_fields_set for m in read.alerts] == [
                m.model_fields_set for m in plain.alerts
            ]
            assert codec.without_members(value) == plain.model_copy(update={"alerts": []})


def test_a_member_that_cannot_be_read_fails_as_the_model_fails() -> None:
    listings: codec.Listings = BoundedCache(2)
    member = IncidentAlert(fingerprint="a", status=AlertStatus.FIRING, labels={})
    now = datetime.now(UTC)
    first = Incident(
        id="i",
        revision=1,
        event="opened",
        status=IncidentStatus.FIRING,
        correlation_key="k",
        title="t",
        severity="info",
        priority="P5",
        opened_at=now,
        updated_at=now,
        alerts=[member],
    )
    codec.read_incident(first.to_bytes(), listings)
    added = member.model_copy(update={"fingerprint": "b"})
    second = first.model_copy(update={"revision": 2, "alerts": [member, added]}).to_bytes()
    broken = second.replace(b'"b","status":"firing"', b'"b","status":"burning"')
    with pytest.raises(ValidationError, match="status"):
        codec.read_incident(broken, listings)
