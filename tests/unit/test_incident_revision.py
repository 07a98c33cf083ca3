"""A revision read from its record's bytes tells the store what the model would.

The store keeps a revision's members as listed instead of building a model
of each; the summary, the timeline event and the lifecycle made from them
must be what the ``Incident`` model says, for any text in labels,
annotations and fingerprints, and for a record laid out otherwise than
Corral writes it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.incidents.events import encoded, revision_event
from services.incidents.lifecycle import Event, EventKind, Lifecycle, State
from services.incidents.revision import Revision
from services.incidents.views import Describer, patched, summary, timeline, touched
from shared.messages import AlertStatus, Incident, IncidentAlert
from tests.unit.test_codec import incidents, members
from tests.unit.test_codec_listings import tricky_members

DESCRIBER = Describer("team", ("service", "job"))
FLIPPED = {AlertStatus.FIRING: AlertStatus.RESOLVED, AlertStatus.RESOLVED: AlertStatus.FIRING}


def services_of(incident: Incident) -> list[str]:
    """The summary's services, from the models."""
    found: list[str] = []
    for alert in incident.alerts:
        value = next((alert.labels[n] for n in ("service", "job") if alert.labels.get(n)), None)
        if value and value not in found:
            found.append(value)
        if len(found) >= 20:
            break
    return found


def changes_of(incident: Incident, previous: Incident | None) -> list[IncidentAlert]:
    """The members a revision changed, from the models."""
    before = {a.fingerprint: a.status for a in previous.alerts} if previous else {}
    return [a for a in incident.alerts if before.get(a.fingerprint) != a.status]


def stored(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(encoded(event))
    return data


@st.composite
def revisions(draw: st.DrawFn) -> tuple[Incident, Incident]:
    """A revision and the one before it, sharing, changing and dropping members."""
    first = draw(
        st.lists(tricky_members() | members(), max_size=5, unique_by=lambda a: a.fingerprint)
    )
    kept = [a for a in first if draw(st.booleans())]
    flipped = [
        a.model_copy(update={"status": FLIPPED[a.status]}) if draw(st.booleans()) else a
        for a in kept
    ]
    added = draw(st.lists(members(), max_size=3))
    seen = {a.fingerprint for a in flipped}
    second = flipped + [a for a in added if a.fingerprint not in seen]
    previous = draw(incidents(first))
    current = draw(incidents(second)).model_copy(
        update={
            "root_cause": draw(
                st.sampled_from([None, *(a.fingerprint for a in second)] if second else [None])
            )
        }
    )
    return previous, current


@settings(max_examples=200)
@given(pair=revisions(), laid_out=st.booleans())
def test_a_revision_read_from_its_bytes_is_what_its_model_says(
    pair: tuple[Incident, Incident], laid_out: bool
) -> None:
    previous, incident = pair

    def read(model: Incident) -> Revision:
        data = model.to_bytes()
        if not laid_out:  # another writer's layout: read through the model
            data = json.dumps(json.loads(data), indent=1, sort_keys=True).encode()
        return Revision.from_bytes(data)

    before, revision = read(previous), read(incident)
    assert revision.head == incident.model_copy(update={"alerts": []})
    assert Incident.model_validate_json(revision.doc) == incident

    event = revision_event(revision, before)
    data = stored(event)
    assert data["firing"] == sorted(a.fingerprint for a in incident.firing_alerts)
    assert data["changes"] == [
        a.model_dump(mode="json", exclude_none=True) for a in changes_of(incident, previous)
    ]

    shown = summary(revision, Lifecycle(), 0, DESCRIBER)
    cause = next((a for a in incident.alerts if a.fingerprint == incident.root_cause), None)
    assert shown["services"] == services_of(incident)
    assert shown["root_cause"] == (
        cause.labels.get("alertname", cause.fingerprint) if cause else None
    )
    assert shown["alerts"] == {
        "firing": len(incident.firing_alerts),
        "total": len(incident.alerts) + incident.truncated_alerts,
    }


times = st.none() | st.integers(0, 2**42)
names = st.none() | st.text(max_size=8)
lifecycles = st.builds(
    Lifecycle,
    state=st.sampled_from(State),
    acknowledged_by=names,
    acknowledged_at_ms=times,
    snoozed_until_ms=times,
    resolved_by=names,
    resolved_at_ms=times,
    roles=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)


@settings(max_examples=200)
@given(
    pair=revisions(),
    before=lifecycles,
    after=lifecycles,
    changed=st.integers(0, 2**42),
    later=st.integers(0, 2**42),
)
def test_a_patched_summary_is_the_summary_made_again(
    pair: tuple[Incident, Incident], before: Lifecycle, after: Lifecycle, changed: int, later: int
) -> None:
    """An action or an outcome patches the stored summary; it must be what
    making it again from the revision gives, down to the stored text."""
    revision = Revision.from_bytes(pair[1].to_bytes())
    stored = json.loads(json.dumps(summary(revision, before, changed, DESCRIBER)))
    made = summary(revision, after, later, DESCRIBER)
    patch = patched(stored, after, later)
    assert patch == made
    assert json.dumps(patch) == json.dumps(made)
    # Only delivery outcomes (the lifecycle as it was): the time of change moves.
    moved = touched(stored, later)
    assert json.dumps(moved) == json.dumps(summary(revision, before, later, DESCRIBER))
    # Laid out otherwise (another version's summary): made again instead.
    assert patched({k: v for k, v in stored.items() if k != "roles"}, after, later) is None


def test_what_is_not_an_incident_is_refused() -> None:
    with pytest.raises(ValidationError):
        Revision.from_bytes(b"\x00not json")
    with pytest.raises(ValidationError):
        Revision.from_bytes(b'{"id":"i","revision":0,"alerts":[]}')


def test_the_timeline_of_a_store_written_before_shows_the_same() -> None:
    """Stores written before kept each change as the timeline shows it, not the member."""
    member = {
        "fingerprint": "fp-disk",
        "status": "firing",
        "labels": {"alertname": "DiskFull", "team": "storage"},
        "annotations": {"summary": "DiskFull on db-1"},
        "starts_at": "2026-11-26T10:00:00Z",
    }
    change = {
        "fingerprint": "fp-disk",
        "alertname": "DiskFull",
        "status": "firing",
        "labels": {"alertname": "DiskFull", "team": "storage"},
        "summary": "DiskFull on db-1",
    }
    data = {
        "revision": 1,
        "event": "opened",
        "status": "firing",
        "priority": "P2",
        "severity": "warning",
        "firing": ["fp-disk"],
        "decisions": [],
    }
    now = Event("inc-1", "r/1", 0, EventKind.REVISION, {**data, "changes": [member]})
    then = Event("inc-1", "r/1", 0, EventKind.REVISION, {**data, "changes": [change]})
    assert timeline([now]) == timeline([then])
    assert [e["text"] for e in timeline([now])][1] == "DiskFull firing: DiskFull on db-1"
