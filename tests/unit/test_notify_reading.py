"""Notify reads an incident's revisions (``codec.read_incident``) as the
model reads them, whatever changed since the last one: members added,
changed where they are listed (a status, a time), dropped or reordered, the
same listing under a new head, or a revision that cannot be read at all;
and what the last revision listed as it is now is not read again."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared import codec
from shared.cache import BoundedCache
from shared.messages import AlertStatus, Incident, IncidentAlert
from tests.unit.test_codec import incidents, members, times, tricky

# A member as listed next: its old place in the listing (None: new or changed).
Listed = tuple[IncidentAlert, int | None]


@settings(max_examples=200)
@given(data=st.data())
def test_a_growing_incident_is_read_as_the_model_reads_it(data: st.DataObject) -> None:
    listings: codec.Listings = BoundedCache(4)
    revision = data.draw(incidents(alerts=data.draw(st.lists(members(tricky), max_size=4))))
    for number in range(2, 6):
        plain = Incident.from_bytes(revision.to_bytes())
        read = codec.read_incident(revision.to_bytes(), listings)
        assert read == plain
        assert read.to_bytes() == plain.to_bytes()
        alerts = list(revision.alerts)
        if alerts and data.draw(st.booleans()):  # now and then one resolves on the way
            at = data.draw(st.integers(0, len(alerts) - 1))
            alerts[at] = alerts[at].model_copy(update={"status": AlertStatus.RESOLVED})
        added = data.draw(st.lists(members(tricky), max_size=3))
        revision = revision.model_copy(update={"revision": number, "alerts": alerts + added})


def changed(data: st.DataObject, member: IncidentAlert) -> IncidentAlert:
    """``member`` as a later revision may list it: resolved, firing again, new times."""
    update: dict[str, object] = data.draw(
        st.sampled_from(
            [
                {"status": AlertStatus.RESOLVED, "ends_at": data.draw(times)},
                {"status": AlertStatus.FIRING, "ends_at": None},
                {"starts_at": data.draw(times)},
                {"annotations": {**member.annotations, "value": data.draw(tricky)}},
            ]
        )
    )
    return member.model_copy(update=update)


def next_listing(
    data: st.DataObject, alerts: list[IncidentAlert], new: st.SearchStrategy[IncidentAlert]
) -> list[Listed]:
    """What triage may list next, in order: each member kept, changed where
    it is or dropped (runs of them too), then new ones (``new``)."""
    edits = st.sampled_from(["keep", "keep", "keep", "change", "drop"])
    listed: list[Listed] = []
    for at, member in enumerate(alerts):
        edit = data.draw(edits)
        if edit == "keep":
            listed.append((member, at))
        elif edit == "change":
            listed.append((changed(data, member), None))
    return listed + [(member, None) for member in data.draw(st.lists(new, max_size=3))]


def revisions(
    data: st.DataObject,
    first: Incident,
    edit: Callable[[list[IncidentAlert]], list[Listed]],
) -> list[tuple[Incident, list[int | None]]]:
    """``first`` and the revisions after it, each listing ``edit`` of the
    last one's members (or the same listing under a new head), with where
    each member was listed in the revision before (None: not as it is now)."""
    found: list[tuple[Incident, list[int | None]]] = [(first, [None] * len(first.alerts))]
    for number in range(2, 8):
        alerts = list(found[-1][0].alerts)
        listed = (
            edit(alerts) if data.draw(st.booleans()) else [(a, k) for k, a in enumerate(alerts)]
        )
        revision = found[-1][0].model_copy(
            update={
                "revision": number,
                "truncated_alerts": number,  # what changes when the listing is full
                "alerts": [member for member, _ in listed],
            }
        )
        found.append((revision, [at for _, at in listed]))
    return found


def assert_kept_as_split(reading: codec.Reading) -> None:
    """Where a reading says each member's piece ends is where ``split_members`` splits."""
    if reading.ends is not None:
        pieces = codec.split_members(reading.listing)
        assert pieces is not None and len(pieces) == len(reading.members)
        starts = [codec._start(reading.ends, k) for k in range(len(reading.ends))]
        assert [reading.listing[s:e] for s, e in zip(starts, reading.ends, strict=True)] == pieces


@settings(max_examples=300)
@given(data=st.data())
def test_every_revision_is_read_as_the_model_reads_it(data: st.DataObject) -> None:
    """Any members (equal ones, any text), edited or reordered."""
    listings: codec.Listings = BoundedCache(4)
    first = data.draw(incidents(alerts=data.draw(st.lists(members(tricky), max_size=6))))

    def edit(alerts: list[IncidentAlert]) -> list[Listed]:
        if alerts and data.draw(st.integers(0, 4)) == 0:
            return [(member, None) for member in data.draw(st.permutations(alerts))]
        return next_listing(data, alerts, members(tricky))

    for revision, _ in revisions(data, first, edit):
        for value in (revision.to_bytes(), revision.model_dump_json().encode()):
            plain = Incident.from_bytes(value)
            read = codec.read_incident(value, listings)
            assert read == plain
            assert read.to_bytes() == plain.to_bytes()
            reading = listings.get(read.id.encode())
            if reading is not None:  # an id written with escapes is not looked up
                assert reading.members == plain.alerts
                assert_kept_as_split(reading)


@settings(max_examples=200)
@given(data=st.data())
def test_what_the_last_revision_listed_as_it_is_now_is_not_read_again(
    data: st.DataObject,
) -> None:
    """As triage lists them: each fingerprint once, in the order they joined."""
    unique = st.lists(members(tricky), max_size=8, unique_by=lambda m: m.fingerprint)
    listings: codec.Listings = BoundedCache(4)
    first = data.draw(incidents(alerts=data.draw(unique)))
    first = first.model_copy(update={"id": data.draw(st.text("0123456789abcdef", min_size=1))})
    joined = {m.fingerprint for m in first.alerts}

    def edit(alerts: list[IncidentAlert]) -> list[Listed]:
        new = members(tricky).filter(lambda m: m.fingerprint not in joined)
        listed = next_listing(data, alerts, new)
        joined.update(m.fingerprint for m, _ in listed)
        fingerprints = [m.fingerprint for m, _ in listed]
        return listed if len(set(fingerprints)) == len(fingerprints) else []

    last: Incident | None = None
    for revision, was in revisions(data, first, edit):
        read = codec.read_incident(revision.to_bytes(), listings)
        assert read == revision
        if last is not None:
            for member, at in zip(read.alerts, was, strict=True):
                assert at is None or member is last.alerts[at]
        last = read


def outcome(read: Callable[[bytes], Incident], value: bytes) -> Incident | list[object]:
    """What reading ``value`` gives: the incident, or the errors it fails with."""
    try:
        return read(value)
    except ValidationError as exc:
        return [exc.title, exc.errors(include_url=False), str(exc)]


spoilers = st.sampled_from(
    [b"", b'"', b"\\", b"}", b"]", b",", b"{", b'},{"fingerprint":"', b'"x"', b"1", b"null", b" "]
)


@settings(max_examples=300)
@given(data=st.data())
def test_a_revision_that_cannot_be_read_fails_as_the_model_fails(data: st.DataObject) -> None:
    """Bytes of the next revision changed anywhere (or its schema too new)."""
    listings: codec.Listings = BoundedCache(4)
    first = data.draw(incidents(alerts=data.draw(st.lists(members(tricky), min_size=1))))
    codec.read_incident(first.to_bytes(), listings)
    listed = [m for m, _ in next_listing(data, list(first.alerts), members(tricky))]
    if data.draw(st.booleans()):  # the listing read before, its pieces known, and another
        ahead = first.model_copy(update={"revision": 2, "alerts": [*listed, *first.alerts]})
        codec.read_incident(ahead.to_bytes(), listings)
    value = first.model_copy(update={"revision": 3, "alerts": listed}).to_bytes()
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(value)))
        cut = data.draw(st.integers(0, 20))
        value = value[:at] + data.draw(spoilers) + value[at + cut :]
    if data.draw(st.integers(0, 9)) == 0:
        value = value.replace(b'"schema_version":1', b'"schema_version":2', 1)
    assert outcome(lambda v: codec.read_incident(v, listings), value) == outcome(
        Incident.from_bytes, value
    )


@settings(max_examples=100)
@given(data=st.data())
def test_a_listing_laid_out_otherwise_is_read_the_plain_way(data: st.DataObject) -> None:
    """Members with their keys in another order, or apart: not split, read as written."""
    listings: codec.Listings = BoundedCache(4)
    first = data.draw(incidents(alerts=data.draw(st.lists(members(), min_size=2, max_size=4))))
    layouts = [
        lambda value: value.replace(b'},{"fingerprint":"', b'}, {"fingerprint":"'),
        lambda value: value.replace(b'{"fingerprint":"', b'{"status":"firing","fingerprint":"'),
    ]
    lay_out = data.draw(st.sampled_from(layouts))
    for revision, _ in revisions(data, first, lambda alerts: next_listing(data, alerts, members())):
        value = lay_out(revision.to_bytes())
        assert outcome(lambda v: codec.read_incident(v, listings), value) == outcome(
            Incident.from_bytes, value
        )
