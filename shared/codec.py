"""Every hand-written JSON encoder in Corral, each equal to the plain way,
and the one message model built without validation.

The workers write the same few shapes for every alert that passes, and some
shapes repeat what was already encoded: a busy incident gets a revision per
batch listing the same alerts, triage writes each revision twice (the
incident, then its state record), and ingest has already validated every
field of an alert before it writes one. Building a model again or encoding the same
object again was most of that work, so the encoders here splice bytes
instead.

A listed member is the model built without validation (``listed``), from
an ``Alert`` validated when it was read, and triage holds it encoded:
members are written with every revision and state record, and their
labels are looked at far less often.

Notify's reader (``read_incident``) skips validating what an incident's
last revision listed, held equal to ``Incident.from_bytes`` the same way.

This module is the only place such tricks live. ``tests/unit/test_codec.py``
holds each encoder byte for byte equal to the model's own serialization
(``Message.to_bytes``) on generated inputs; a change to a model that an
encoder does not follow fails there, not in production.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_json

from shared.cache import BoundedCache
from shared.messages.alert import Alert, AlertContent
from shared.messages.incident import Incident, IncidentAlert

T = TypeVar("T")


def join_objects(first: bytes, second: bytes) -> bytes:
    """One JSON object with ``first``'s members, then ``second``'s (neither
    empty). Joined from views: ``second`` may be a whole incident, not copied
    twice."""
    return b",".join((memoryview(first)[:-1], memoryview(second)[1:]))


def with_last(head: bytes, field: str, data: bytes) -> bytes:
    """``head`` (an object's JSON without ``field``) with ``field`` added last, as ``data``."""
    return b'%s,"%s":%s}' % (head[:-1], field.encode(), data)


class EncodingCache(Generic[T]):
    """The encodings of the objects written lately, by identity.

    Only for frozen objects, whose encoding never goes stale. An entry holds
    its object, so the object's id cannot pass to another one while cached.
    """

    def __init__(self, size: int, encode: Callable[[T], bytes]):
        self.encode = encode
        self._entries: BoundedCache[int, tuple[T, bytes]] = BoundedCache(size)

    def remember(self, value: T, data: bytes) -> None:
        """``data`` is ``value`` encoded (as read from a record, say)."""
        self._entries.put(id(value), (value, data))

    def of(self, value: T) -> bytes:
        hit = self._entries.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        data = self.encode(value)
        self.remember(value, data)
        return data


def compact(model: BaseModel, exclude: set[str] | None = None) -> bytes:
    """A model as ``Message.to_bytes`` writes it: unset (None) fields left out."""
    return type(model).__pydantic_serializer__.to_json(model, exclude_none=True, exclude=exclude)


def with_listing(model: BaseModel, field: str, items: Sequence[bytes]) -> bytes:
    """``compact(model)`` when ``field``, the model's last field, lists the
    objects encoded as ``items``."""
    return with_last(compact(model, {field}), field, b"[%s]" % b",".join(items))


class Listed(NamedTuple):
    """A record value written by ``with_listing`` when it is published, not
    before: a batch's outputs are not held encoded twice (here and in the
    producer's batch)."""

    model: BaseModel
    field: str
    items: Sequence[bytes]

    def to_bytes(self) -> bytes:
        return with_listing(self.model, self.field, self.items)


# Triage lists up to ``max_alerts`` members per incident, for as long as the
# incident lasts: as the objects an alert is read into, a listed member took
# about twice the memory its encoding does, and it was encoded again for
# every revision and state record that carried it. So an incident holds its
# members encoded (``compact(listed(...))``), and what looks at a member's
# labels, much rarer than writing it, reads it back (``read_member``).


def read_member(data: bytes) -> IncidentAlert:
    """A listed member, as triage holds it, as its model."""
    return IncidentAlert.model_validate_json(data)


def listed(alert: AlertContent, fingerprint: str) -> IncidentAlert:
    """``IncidentAlert(fingerprint=..., status=alert.status, ...)`` for an
    alert whose model validated these fields already: the same values (the
    frozen alert's own objects, shared), not validated again.

    What ``model_construct`` does, without its search of every field for
    aliases and defaults (every field is given)."""
    member = _new_member(IncidentAlert)
    _set(
        member,
        "__dict__",
        {
            "fingerprint": fingerprint,
            "status": alert.status,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "starts_at": alert.starts_at,
            "ends_at": alert.ends_at,
            "generator_url": alert.generator_url,
        },
    )
    _set(member, "__pydantic_fields_set__", _MEMBER_FIELDS)
    _set(member, "__pydantic_extra__", None)
    _set(member, "__pydantic_private__", None)
    return member


# Every field is given: the members built share one (immutable) set of them.
_MEMBER_FIELDS = frozenset(IncidentAlert.model_fields)
_new_member = IncidentAlert.__new__
_set = object.__setattr__


# Alerts, as ingest writes them from the fields it validated.


def alert_envelope(
    source: str,
    received_at: datetime,
    group_key: str | None = None,
    receiver: str | None = None,
    external_url: str | None = None,
) -> bytes:
    """The ``Alert`` fields every alert of one request shares, encoded once per request."""
    fields = {
        "source": source,
        "received_at": received_at,
        "group_key": group_key,
        "receiver": receiver,
        "external_url": external_url,
    }
    return to_json({name: value for name, value in fields.items() if value is not None})


def alert(
    envelope: bytes,
    fingerprint: str,
    status: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    starts_at: datetime | None,
    ends_at: datetime | None,
    generator_url: str,
) -> bytes:
    """``Alert(...).to_bytes()`` for these fields and an ``alert_envelope``."""
    # In ``Alert``'s field order, leaving out what is unset as ``to_bytes`` does.
    fields: dict[str, object] = {
        "schema_version": Alert.SCHEMA_VERSION,
        "fingerprint": fingerprint,
        "status": status,
        "labels": labels,
        "annotations": annotations,
    }
    if starts_at is not None:
        fields["starts_at"] = starts_at
    if ends_at is not None:
        fields["ends_at"] = ends_at
    fields["generator_url"] = generator_url
    return join_objects(to_json(fields), envelope)


def alert_record(
    schema_version: int,
    status: str,
    incident: str | None,
    changed_at: int,
    changes: Sequence[int],
    flapping: bool,
    ends_at: int | None = None,
) -> bytes:
    """Triage's ``AlertRecord(...).to_bytes()``, without building the model:
    triage writes one for most alerts it reads."""
    return (
        b'{"schema_version":%d,"status":"%s",%s"changed_at":%d,"changes":[%s],"flapping":%s%s}'
        % (
            schema_version,
            status.encode(),
            b"" if incident is None else b'"incident":%s,' % to_json(incident),
            changed_at,
            b",".join(b"%d" % change for change in changes),
            b"true" if flapping else b"false",
            b"" if ends_at is None else b',"ends_at":%d' % ends_at,
        )
    )


def prepend_fields(fields: Mapping[str, Any], obj: bytes) -> bytes:
    """``fields`` (plain JSON values) as the first members of the object ``obj``."""
    return join_objects(json.dumps(fields).encode(), obj)


# Notify: each revision of a growing incident lists the members of the one
# before, and validating them again was most of reading it. The members of
# an incident's last revision read are kept with their bytes, and only the
# members a new revision adds or changes are validated: a revision that
# lists what the last one did costs its head and a comparison of bytes,
# however many members it lists.

_LISTING = b',"alerts":['
_FIRST_MEMBER = b'{"fingerprint":"'
_NEXT_MEMBER = b"},%s" % _FIRST_MEMBER
_STATUS = b'","status":"'
_FIRST = len(_FIRST_MEMBER) + 1  # where a listing's first piece starts (see ``split_members``)
_MEMBER_LIST: TypeAdapter[list[IncidentAlert]] = TypeAdapter(list[IncidentAlert])
# Where ``compact`` writes an incident's id; an id with escapes is not looked up.
_ID = re.compile(rb'\{"schema_version":\d+,"id":"([^"\\]*)"')


class Reading(NamedTuple):
    """What notify keeps of an incident's last revision read: its listing
    (``alerts``), the members it lists, and where each member's piece (as
    ``split_members`` gives it) ends in the listing. Those ends are found
    when a revision first needs them (one that does not only add members),
    then kept up to date."""

    listing: bytes
    members: list[IncidentAlert]
    ends: array[int] | None = None


Listings = BoundedCache[bytes, Reading]
"""By incident id (its bytes as written, which may not be text), the
``Reading`` of its last revision read."""


def _head(data: bytes, start: int) -> Incident:
    """``data``, an incident whose listing starts at ``start``, read with ``alerts`` empty."""
    return Incident.from_bytes(data[:start] + b',"alerts":[]}')


def without_members(data: bytes) -> Incident:
    """``Incident.from_bytes(data)`` with ``alerts`` left empty (unread when
    ``data`` is laid out as ``compact`` writes it), for what reads only the
    other fields."""
    start = data.find(_LISTING)
    if start < 0 or not data.endswith(b"]}"):
        return Incident.from_bytes(data).model_copy(update={"alerts": []})
    return _head(data, start)


def read_incident(data: bytes, listings: Listings) -> Incident:
    """``Incident.from_bytes(data)``, validating only the members that the
    incident's last revision in ``listings`` did not list as they are now
    (``data`` laid out as ``compact`` writes it, ``alerts`` last; any other
    layout is read the plain way)."""
    start = data.find(_LISTING)
    known = _ID.match(data)
    if start < 0 or known is None or not data.endswith(b"]}"):
        return Incident.from_bytes(data)
    key = known[1]
    listing = data[start + len(_LISTING) - 1 : -1]
    previous = listings.get(key)
    if previous is None:
        incident = Incident.from_bytes(data)
        listings.put(key, Reading(listing, _sharing_fields(incident.alerts)))
        return incident
    try:
        head = _head(data, start)
        reading = _reread(listing, previous)
    except ValidationError:
        reading = None
    if reading is None:
        return Incident.from_bytes(data)  # and its error, if it has one
    listings.put(key, reading)
    # As ``model_copy(update=...)`` would set it: ``head`` is new and not shared yet.
    head.__dict__["alerts"] = reading.members
    return head


# Every member pydantic reads gets a set of its own of the fields it was
# given, a large part of the memory a listing is kept in (and so of reading
# the next one). Members are frozen and never copied with changes, so those
# read with the same fields share one frozenset of them: at most one for
# each combination of the member model's optional fields.
_FIELDS_GIVEN: dict[frozenset[str], frozenset[str]] = {}


def _sharing_fields(members: list[IncidentAlert]) -> list[IncidentAlert]:
    """``members``, just read, each with its ``model_fields_set`` (the same
    names) in a frozenset shared with the other members given those fields.
    Mostly a member was given the fields the one before it was: compared, not
    made into a frozenset again."""
    last: frozenset[str] = frozenset()
    for member in members:
        given = member.__pydantic_fields_set__
        if given != last:
            key = frozenset(given)
            last = _FIELDS_GIVEN.setdefault(key, key)
        _set(member, "__pydantic_fields_set__", last)
    return members


def _reread(listing: bytes, previous: Reading) -> Reading | None:
    """The ``Reading`` of ``listing``, with the members ``previous`` lists
    as they are now not validated again; None if a listing does not split
    into one piece per member."""
    before, members, ends = previous
    end = len(before) - 1
    # Mostly a growing incident's listing is its last one, with members added
    # at the end or not: compared whole, only the added ones are read.
    if listing.startswith(memoryview(before)[:end]):
        if len(listing) == len(before):
            return Reading(before, list(members), ends)
        if members and listing.startswith(b"," + _FIRST_MEMBER, end):
            added = _sharing_fields(_MEMBER_LIST.validate_json(b"[%s]" % listing[end + 1 : -1]))
            more = None if ends is None else _ends(listing, end + 1 + len(_FIRST_MEMBER))
            if ends is None or more is None or len(more) != len(added):
                return Reading(listing, [*members, *added])
            return Reading(listing, [*members, *added], ends + more)
    if ends is None:
        ends = _ends(before)
        if ends is None or len(ends) != len(members):
            return None
    return _compared(listing, Reading(before, members, ends))


def _laid_out(listing: bytes) -> bool:
    """Whether ``listing`` (not empty) starts and ends as ``with_listing`` writes it."""
    return listing.startswith(b"[" + _FIRST_MEMBER) and listing.endswith(b"}]")


def _ends(listing: bytes, start: int = _FIRST) -> array[int] | None:
    """Where each piece of ``listing`` from ``start`` (where a piece starts)
    on ends: at the ``}`` that closes its member. None if ``listing`` is not
    laid out as ``with_listing`` writes it."""
    if listing == b"[]":
        return array("L")
    if not _laid_out(listing):
        return None
    ends = array("L")
    at = listing.find(_NEXT_MEMBER, start)
    while at >= 0:
        ends.append(at)
        at = listing.find(_NEXT_MEMBER, at + len(_NEXT_MEMBER))
    ends.append(len(listing) - 2)
    return ends


def _start(ends: array[int], k: int) -> int:
    """Where piece ``k`` of a listing starts, given where each piece ends."""
    return ends[k - 1] + len(_NEXT_MEMBER) if k else _FIRST


def _compared(listing: bytes, previous: Reading) -> Reading | None:
    """``listing`` read piece by piece against ``previous`` (its ends known).

    A piece equal to the one ``previous`` lists next (or, after members
    left, to one it lists later) is that member; the others are validated,
    all at once. After a changed member the rest is compared whole, so that
    a revision that changes a few members compares few pieces.
    """
    if listing == b"[]":
        return Reading(listing, [], array("L"))
    if not _laid_out(listing):
        return None
    before, members, ends = previous
    assert ends is not None
    old = memoryview(before)
    last = len(listing) - 2
    found: list[IncidentAlert | None] = []
    fresh: list[bytes] = []
    new_ends = array("L")
    pos = start = _FIRST  # where the next piece starts, in listing and in before
    j = 0  # the next member of before
    while pos <= last:
        if j < len(members):
            after = ends[j] + len(_NEXT_MEMBER)  # where before's next piece starts
            end = pos + ends[j] - start
            # Mostly the piece and the separator after it, compared at once.
            if (after < len(before) and listing.startswith(old[start:after], pos)) or (
                listing.startswith(old[start : ends[j]], pos)
                and (end == last or listing.startswith(_NEXT_MEMBER, end))
            ):
                found.append(members[j])
                new_ends.append(end)
                pos, start, j = end + len(_NEXT_MEMBER), after, j + 1
                continue
        end = listing.find(_NEXT_MEMBER, pos)
        end = last if end < 0 else end
        piece = listing[pos:end]
        k = None
        if j < len(members) and _same_fingerprint(piece, before, start):
            j += 1  # changed where it is listed: validated, in place of the one it was
        elif j < len(members):
            k = _listed(piece, before, ends, j)
        if k is None:
            found.append(None)
            fresh.append(piece)
        else:
            found.append(members[k])
            j = k + 1
        new_ends.append(end)
        pos, start = end + len(_NEXT_MEMBER), _start(ends, j)
        rest = len(before) - start
        if j < len(members) and len(listing) - pos == rest and listing.startswith(old[start:], pos):
            found.extend(members[j:])  # the rest as it was
            new_ends.extend(e + pos - start for e in ends[j:])
            break
    if fresh:
        read = _sharing_fields(_MEMBER_LIST.validate_json(join_members(fresh)))
        if len(read) != len(fresh):
            return None
        new = iter(read)
        found = [next(new) if member is None else member for member in found]
    return Reading(listing, found, new_ends)  # type: ignore[arg-type]


def _same_fingerprint(piece: bytes, before: bytes, start: int) -> bool:
    """Whether ``piece`` starts with the fingerprint of the piece at ``start`` in ``before``."""
    cut = piece.find(_STATUS) + len(_STATUS)
    return cut >= len(_STATUS) and before.startswith(piece[:cut], start)


def _listed(piece: bytes, before: bytes, ends: array[int], j: int) -> int | None:
    """Which member of ``before`` from member ``j`` on is listed as ``piece``, if any."""
    at = before.find(b"%s%s}" % (_FIRST_MEMBER, piece), _start(ends, j) - len(_FIRST_MEMBER))
    if at < 0:
        return None
    first = at + len(_FIRST_MEMBER)
    k = bisect.bisect_left(ends, first + len(piece), j)
    if k < len(ends) and ends[k] == first + len(piece) and _start(ends, k) == first:
        return k
    return None


# Listings read back. A revision lists up to ``triage.max_alerts`` members,
# mostly the ones the revision before listed; a reader that needs only which
# members there are, which fire and a label or two of some (the incidents
# worker) takes them from the bytes ``with_listing`` wrote instead of building
# a model of each. A member is taken as its encoding (``compact``) without
# its first ``{"fingerprint":"`` and its last ``}``, so that members are
# split and joined again in one call.

_LABELS = b'","labels":{'


def split_last(data: bytes, field: str) -> tuple[bytes, bytes] | None:
    """``(head, listing)`` such that ``with_last(head, field, listing) == data``,
    for an object whose last field, ``field``, is an array; None if ``data``
    is not laid out so."""
    # Only a key can be followed by ``":[``: in a string every quote is escaped.
    marker = b',"%s":[' % field.encode()
    at = data.find(marker)
    if at < 0 or not data.endswith(b"]}"):
        return None
    return data[:at] + b"}", data[at + len(marker) - 1 : -1]


def split_members(listing: bytes) -> list[bytes] | None:
    """The members of a listing ``with_listing`` wrote, in order, as
    ``join_members`` takes them; None if ``listing`` is not laid out so.

    A member's encoding starts with its fingerprint, and ``},{"fingerprint":"``
    occurs nowhere else: not in a string (its quotes are escaped) nor in a
    member (which holds no array).
    """
    if listing == b"[]":
        return []
    if not _laid_out(listing):
        return None
    return listing[_FIRST:-2].split(_NEXT_MEMBER)


def join_members(members: Sequence[bytes]) -> bytes:
    """The listing of ``members`` (as ``split_members`` gives them)."""
    if not members:
        return b"[]"
    return b"[%s%s}]" % (_FIRST_MEMBER, _NEXT_MEMBER.join(members))


def _string(raw: bytes) -> str:
    """A JSON string's content (between its quotes) as text."""
    text: str = json.loads(b'"%s"' % raw) if b"\\" in raw else raw.decode()
    return text


def member_keys(members: Sequence[bytes]) -> list[tuple[str, str]]:
    """Each member's ``fingerprint`` and ``status`` (fingerprint first, status second)."""
    if not members:
        return []
    ends = [member.index(_STATUS) + len(_STATUS) for member in members]
    raw = [member[: end - len(_STATUS)] for member, end in zip(members, ends, strict=True)]
    joined = b"\n".join(raw)
    # All at once: in a string a line break is escaped.
    fingerprints = joined.decode().split("\n") if b"\\" not in joined else map(_string, raw)
    statuses = [
        "firing"
        if member.startswith(b'firing"', end)
        else _string(member[end : member.index(b'"', end)])
        for member, end in zip(members, ends, strict=True)
    ]
    return list(zip(fingerprints, statuses, strict=True))


@functools.lru_cache(maxsize=64)
def _label_key(name: str) -> tuple[bytes, bytes]:
    """A label's key as the first in its object and as another."""
    key = b'%s:"' % to_json(name)
    return key, b"," + key


def member_label(member: bytes, name: str) -> str | None:
    """``labels.get(name)`` of a member, read from its encoding."""
    start = member.index(_LABELS) + len(_LABELS)
    # The labels hold only strings, so the first ``},"`` closes them.
    end = member.find(b'},"', start - 1)
    key, other = _label_key(name)
    if member.startswith(key, start):
        at = start
    else:
        at = member.find(other, start, len(member) if end < 0 else end) + 1
        if at == 0:
            return None
    value_start = at + len(key)
    raw = member[value_start : member.index(b'"', value_start)]
    if b"\\" in raw:
        labels = member[start - 1 : None if end < 0 else end + 1]
        value: str = json.loads(labels)[name]
        return value
    return raw.decode()
