"""What triage remembers per input partition: alerts, incidents, indexes, timers.

Kept small on purpose: an alert is a status, an incident id and a few
integer timestamps; labels live only in the (capped) member list of its
incident, encoded, and in the correlation index keys the incident registered.
Times are event times (``Alert.received_at``) in milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from shared.codec import read_member
from shared.messages import AlertStatus, IncidentStatus

EXPLANATION_LINES = 30
"""Explanation lines an incident keeps; later decisions are only counted."""


@lru_cache(maxsize=64)
def duration_ms(value: timedelta) -> int:
    # Remembered: called with the same few configured windows for every alert.
    return round(value.total_seconds() * 1000)


@lru_cache(maxsize=4096)
def to_ms(at: datetime) -> int:
    # Remembered: the alerts of one webhook share their ingest time, and the
    # incidents they touch share it as their update time.
    return round(at.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class IndexKey(NamedTuple):
    """A correlation index key: alerts that compute the same key may share an
    incident. ``boundary`` is the alert's record key (correlation never
    crosses it), ``kind`` the policy's (``s0`` scope 0, ``c1`` cause of rule
    1, ``t1`` its symptom, ``v`` a service), ``text`` the values compared."""

    boundary: str
    kind: str
    text: str

    @property
    def encoded(self) -> str:
        """As the state record keeps it: joined by \\x1f, which the boundary
        (label values joined by ``/``) and the kind never hold."""
        return f"{self.boundary}{_SEPARATOR}{self.kind}{_SEPARATOR}{self.text}"

    @classmethod
    def decode(cls, encoded: str) -> IndexKey:
        boundary, kind, text = encoded.split(_SEPARATOR, 2)
        return cls(boundary, kind, text)


_SEPARATOR = "\x1f"


@dataclass(slots=True)
class AlertState:
    status: AlertStatus
    incident: str | None
    changed_at: int
    changes: list[int] | None = None
    flapping: bool = False
    # When a firing alert ends unless its sender says again that it fires
    # (its endsAt, or the resolve timeout), in ms.
    ends: int | None = None


@dataclass(slots=True, eq=False)
class IncidentState:
    id: str
    correlation_key: str
    opened_at: datetime
    updated_at: datetime
    # The members an incident lists (at most ``max_alerts``, in join order),
    # each encoded (``TriageContext.list_member``), and ``unlisted`` the rest
    # (a dict: it takes less than half the memory of a set). Kept apart rather
    # than one table of all members beside the listing, so that an incident of
    # up to ``max_alerts`` alerts, the common one, holds no second table.
    members: dict[str, bytes] = field(default_factory=dict)
    revision: int = 0
    status: IncidentStatus = IncidentStatus.FIRING
    resolved_at: datetime | None = None
    explanation: list[str] = field(default_factory=list)
    flapping: bool = False
    severity: str = "warning"
    priority: str = "P3"
    score: int = 0
    # Written by the scoring stage: its explanation lines, and labels its rules
    # set (team, runbook_url, noise) that emit adds to the incident's labels.
    severity_reason: list[str] = field(default_factory=list)
    scoring_labels: dict[str, str] = field(default_factory=dict)
    title: str = ""
    root_cause: str | None = None
    merged_into: str | None = None
    merged: list[str] = field(default_factory=list)
    unlisted: dict[str, None] = field(default_factory=dict)
    firing: int = 0
    flapping_members: set[str] = field(default_factory=set)
    common_labels: dict[str, str] | None = None
    # Correlation index keys this incident answers to, and for cause and
    # service keys the first member that registered them.
    keys: dict[IndexKey, None] = field(default_factory=dict)
    anchors: dict[IndexKey, str] = field(default_factory=dict)
    # Set while every member resolved and the quiet period runs (ms), and the
    # member whose resolve is held back: its refire alone is not news.
    resolve_due: int | None = None
    held: str | None = None
    explanation_omitted: int = 0
    # The symptom key of the cause its alerts all wait for, and the time (ms)
    # before which it is not announced, or, once announced, before which its
    # growth is not (see hold.py).
    waiting: IndexKey | None = None
    announce_at: int | None = None
    # Stream time (ms) of its last revision, and ingest time of the first
    # alert whose growth is held (for the latency of the revision that
    # releases it). Not kept in the changelog: after a restart, the next
    # growth goes out at once, and a hold released has no latency to report.
    revised_at: int = 0
    held_since: datetime | None = None
    # Restored from a record that held its members (version 1), whose alerts'
    # records do not: they are written with the incident's next record.
    members_unsaved: bool = False
    # Restored from the changelog, no revision written since: the owner before
    # may have written the next number before it died (outputs are
    # acknowledged before state), so that number is skipped (see ``emit``).
    inherited: bool = False

    @property
    def all_resolved(self) -> bool:
        return self.firing == 0

    @property
    def truncated(self) -> int:
        return len(self.unlisted)

    @property
    def size(self) -> int:
        """How many alerts are members, listed or not."""
        return len(self.members) + len(self.unlisted)

    def fingerprints(self) -> Iterator[str]:
        """Every member, the listed ones first."""
        return itertools.chain(self.members, self.unlisted)

    def include(self, fp: str, shown: bytes | None, max_alerts: int) -> None:
        """``fp`` is a member: listed as ``shown`` while fewer than
        ``max_alerts`` are, else only counted. One already listed stays so."""
        if fp in self.members:
            return
        if shown is not None and len(self.members) < max_alerts:
            self.members[fp] = shown
            self.unlisted.pop(fp, None)
        else:
            self.unlisted[fp] = None

    def forget(self, fp: str) -> bytes | None:
        """``fp`` is no longer a member: its listing, if it had one."""
        self.unlisted.pop(fp, None)
        return self.members.pop(fp, None)

    def explain(self, line: str | Callable[[], str]) -> None:
        """Add a line; a callable is only called while there is room (lines
        written for every joining alert cost more than the rest of a join)."""
        if len(self.explanation) < EXPLANATION_LINES:
            self.explanation.append(line if isinstance(line, str) else line())
        else:
            self.explanation_omitted += 1


class Timer:
    """Kinds of time-driven work; a timer whose due time no longer matches the
    state it was set for is stale and ignored."""

    RESOLVE = 0
    SETTLE = 1
    EXPIRE_ALERT = 2
    EXPIRE_INCIDENT = 3
    END_ALERT = 4
    RELEASE = 5


@dataclass
class PartitionState:
    """State of one input partition: only its owner reads or writes it."""

    alerts: dict[str, AlertState] = field(default_factory=dict)
    incidents: dict[str, IncidentState] = field(default_factory=dict)
    # Correlation key → ids of open incidents registered under it.
    index: dict[IndexKey, list[str]] = field(default_factory=dict)
    timers: list[tuple[int, int, str]] = field(default_factory=list)
    # Stream time: the latest event time seen, in ms.
    time: int = 0
    flapping_alerts: int = 0
    # Offsets below this may have been read by the partition's owner before
    # this one: the high-water mark at the first batch after the restore
    # (0 when it had none).
    inherited_below: int | None = None

    def schedule(self, due: int, kind: int, key: str) -> None:
        heapq.heappush(self.timers, (due, kind, key))

    def due(self, now: int) -> tuple[int, int, str] | None:
        if self.timers and self.timers[0][0] <= now:
            return heapq.heappop(self.timers)
        return None

    def register(self, incident: IncidentState, key: IndexKey) -> None:
        incident.keys[key] = None
        ids = self.index.setdefault(key, [])
        if incident.id not in ids:
            ids.append(incident.id)

    def unregister(self, incident: IncidentState, keys: list[IndexKey] | None = None) -> None:
        """Take an incident out of the index (it closed or was merged), or,
        given ``keys``, out of those alone (it no longer answers to them)."""
        for key in incident.keys if keys is None else keys:
            ids = self.index.get(key)
            if ids is not None and incident.id in ids:
                ids.remove(incident.id)
                if not ids:
                    del self.index[key]
        for key in keys or ():
            incident.keys.pop(key, None)

    def lookup(self, key: IndexKey) -> list[IncidentState]:
        return [self.incidents[i] for i in self.index.get(key, ()) if i in self.incidents]


def describe(labels: dict[str, str]) -> str:
    """``KubePodNotReady{namespace="shop", pod="api-1"}``: enough to recognise an alert."""
    shown = [
        f'{name}="{labels[name]}"'
        for name in ("namespace", "pod", "node", "instance", "service", "deployment", "job")
        if labels.get(name)
    ][:2]
    name = labels.get("alertname", "alert")
    return f"{name}{{{', '.join(shown)}}}" if shown else name


def describe_listed(member: bytes | None, otherwise: str) -> str:
    """``describe`` for a listed member (``IncidentState.members``), or
    ``otherwise`` for one that is not listed."""
    return otherwise if member is None else describe(read_member(member).labels)
