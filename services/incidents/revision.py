"""An incident revision as the store reads it: its fields validated, its
members kept as triage listed them.

A revision lists up to ``triage.max_alerts`` members (about 64 KB), most of
them unchanged since the revision before. Building a model of every member
was most of what storing a revision cost, and the store needs little of
them: which members there are and which fire, the labels of a few (the
summary's services and root cause), and, for the members that changed, what
the timeline shows. So the incident's own fields are validated through the
``Incident`` model, each member is kept as its encoding with its fingerprint
and status (``shared.codec``), and its labels are read only when asked for.
The record's bytes are what the store keeps as the incident's document,
which the API reads back through the ``Incident`` model.

Members are taken as listed without validating each field again: triage
builds them from validated alerts, and a record laid out otherwise than its
encoders write is validated whole (and quarantined if it is not an incident).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pydantic import ValidationError

from shared import codec
from shared.messages import AlertStatus, Incident

FIRING = AlertStatus.FIRING.value

FIELD = "alerts"


@dataclass(frozen=True)
class Revision:
    """``head`` is the incident with its ``alerts`` left empty: they are
    ``members``, each as ``codec.split_members`` gives it."""

    head: Incident
    members: list[bytes]
    doc: bytes
    """The revision as written: what the store keeps of it."""

    @property
    def id(self) -> str:
        return self.head.id

    @property
    def revision(self) -> int:
        return self.head.revision

    @cached_property
    def keys(self) -> list[tuple[str, str]]:
        """Each member's fingerprint and status."""
        return codec.member_keys(self.members)

    @cached_property
    def firing(self) -> list[str]:
        """Fingerprints of the members firing, sorted."""
        return sorted(fingerprint for fingerprint, status in self.keys if status == FIRING)

    def changed(self, previous: Revision | None) -> list[bytes]:
        """The members that are new since ``previous`` or changed status."""
        if previous is None:
            return self.members
        # A member listed again unchanged has the same encoding: only the
        # others are read.
        kept = set(previous.members)
        fresh = [i for i, member in enumerate(self.members) if member not in kept]
        if not fresh:
            return []
        now = set(self.members)
        before = dict(codec.member_keys([m for m in previous.members if m not in now]))
        keys = self.keys
        return [self.members[i] for i in fresh if before.get(keys[i][0]) != keys[i][1]]

    @classmethod
    def from_bytes(cls, data: bytes) -> Revision:
        """A revision from a record: ``ValidationError`` if it is not an incident."""
        split = codec.split_last(data, FIELD)
        members = None if split is None else codec.split_members(split[1])
        if split is None or members is None:
            return cls.of(Incident.from_bytes(data), data)
        try:
            head = Incident.from_bytes(codec.with_last(split[0], FIELD, b"[]"))
        except ValidationError:
            # Cut in the wrong place (not written by our encoders): the
            # whole record says what is wrong with it, if anything.
            return cls.of(Incident.from_bytes(data), data)
        return cls(head, members, data)

    @classmethod
    def of(cls, incident: Incident, data: bytes | None = None) -> Revision:
        """A revision from its model (and the record it was read from, if any)."""
        listing = b"[%s]" % b",".join(codec.compact(alert) for alert in incident.alerts)
        members = codec.split_members(listing)
        assert members is not None, "compact() writes members as split_members reads them"
        return cls(
            incident.model_copy(update={FIELD: []}),
            members,
            incident.to_bytes() if data is None else data,
        )
