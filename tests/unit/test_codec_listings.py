"""A listing read back by ``shared.codec`` is, byte for byte, what the model wrote.

Hypothesis writes revisions whose labels, annotations and fingerprints hold
any text (quotes, backslashes, braces, ``},{"fingerprint":"`` itself,
non-ASCII), through ``with_listing`` as triage writes them and through the
model's own ``to_bytes``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared import codec
from shared.messages import Incident, IncidentAlert
from tests.unit.test_codec import incidents, members

tricky = st.sampled_from(
    ['},{"fingerprint":"', '","status":"', '","labels":{', '},"', '"alerts":[', "\\", '"', "]}"]
)
tricky_text = st.lists(tricky | st.text(max_size=6), max_size=4).map("".join)
keys = st.sampled_from(["alertname", "service", "fingerprint", "status", "labels"])


@st.composite
def tricky_members(draw: st.DrawFn) -> IncidentAlert:
    member = draw(members())
    return member.model_copy(
        update={
            "fingerprint": draw(tricky_text),
            "labels": draw(st.dictionaries(tricky_text | keys, tricky_text, max_size=3)),
            "annotations": draw(st.dictionaries(tricky_text | keys, tricky_text, max_size=2)),
        }
    )


@settings(max_examples=300)
@given(data=st.data())
def test_a_listing_splits_into_the_head_and_each_members_encoding(data: st.DataObject) -> None:
    alerts = data.draw(st.lists(tricky_members() | members(), max_size=5))
    incident = data.draw(incidents(alerts))
    written = codec.with_listing(incident, "alerts", [codec.compact(m) for m in alerts])
    assert written == incident.to_bytes()

    split = codec.split_last(written, "alerts")
    assert split is not None
    head, listing = split
    assert head == codec.compact(incident, {"alerts"})
    assert codec.with_last(head, "alerts", listing) == written

    listed = codec.split_members(listing)
    assert listed is not None
    assert codec.join_members(listed) == listing
    for member, alert in zip(listed, alerts, strict=True):
        assert codec.join_members([member]) == b"[%s]" % codec.compact(alert)
    assert codec.member_keys(listed) == [(a.fingerprint, a.status.value) for a in alerts]
    names = {name for alert in alerts for name in alert.labels} | {"alertname", "service"}
    for member, alert in zip(listed, alerts, strict=True):
        assert {n: codec.member_label(member, n) for n in names} == {
            n: alert.labels.get(n) for n in names
        }


def test_what_is_not_laid_out_as_written_is_not_split() -> None:
    assert codec.split_last(b'{"alerts":[]}', "alerts") is None  # not after another field
    assert codec.split_last(b'{"id":"a","alerts":[],"x":1}', "alerts") is None
    assert codec.split_members(b'[{"status":"firing","fingerprint":"a"}]') is None
    assert codec.split_members(b"[ ]") is None
    assert codec.join_members([]) == b"[]"


def test_an_incident_without_members_splits_into_none() -> None:
    incident = Incident.model_validate(
        {
            "id": "i",
            "revision": 1,
            "event": "opened",
            "status": "firing",
            "correlation_key": "k",
            "title": "t",
            "severity": "info",
            "priority": "P5",
            "opened_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "alerts": [],
        }
    )
    split = codec.split_last(incident.to_bytes(), "alerts")
    assert split is not None and codec.split_members(split[1]) == []
