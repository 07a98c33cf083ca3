"""Checking a campaign from the outside: topics, what ingest acknowledged, what receivers took.

* every firing alert ingest acknowledged (200) is a member of an incident;
* each incident's latest revision reached each receiver, in revision order,
  and no revision twice, except re-sends in the documented window (a notify
  worker stopped, by SIGKILL or by losing its partitions when the broker
  stalled, between the receiver taking a notification and the outcome being
  acknowledged: its successor sends it again with the same idempotency key),
  which are counted apart;
* no group of alerts (one namespace of a cluster) was opened as two incidents;
* every poison record is on the quarantine topic, and nothing else is.

Revisions a newer one replaced before they were sent are not sent (notify
pages the newest state of an incident), and a resolve of an incident no
receiver heard of is not sent either; both are counted, not failures.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import ValidationError

from bench.chaos.faults import Injected, Poison
from bench.chaos.receiver import Page
from shared.config import KafkaSettings
from shared.kafka.state import read_values
from shared.messages import Incident
from shared.messages.quarantine import Quarantined

# A page can be recorded a moment after the signal that killed its sender.
_SLACK = 1.0
_WINDOW_FAULTS = ("SIGKILL notify", "SIGSTOP broker")


@dataclass
class Verdict:
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    broken_url_alerts: tuple[int, int] = (0, 0)  # in an incident, acknowledged
    incidents: int = 0
    revisions: int = 0
    opened_twice: list[str] = field(default_factory=list)
    pages: int = 0
    repeats: int = 0
    duplicated: list[str] = field(default_factory=list)
    window: int = 0
    out_of_order: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    coalesced: int = 0
    unheard_resolves: int = 0
    poison: tuple[int, int] = (0, 0)  # quarantined, injected
    other_quarantined: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        found = []
        for what, items in (
            ("acknowledged alerts in no incident", self.lost),
            ("alert groups opened as more than one incident", self.opened_twice),
            ("duplicated pages", self.duplicated),
            ("revisions out of order at a receiver", self.out_of_order),
            ("incidents whose latest revision a receiver never got", self.undelivered),
            ("records quarantined that were not poison", self.other_quarantined),
        ):
            if items:
                found.append(f"{len(items)} {what}: {', '.join(items[:5])}")
        if self.poison[0] != self.poison[1]:
            found.append(f"poison records quarantined: {self.poison[0]} of {self.poison[1]}")
        return found


async def judge(
    kafka: KafkaSettings,
    acknowledged: dict[str, str],
    broken_url: set[str],
    pages: list[Page],
    paths: tuple[str, ...],
    injected: Injected,
) -> Verdict:
    verdict = Verdict(acknowledged=len(acknowledged))
    revisions = _incidents(await read_values(kafka, kafka.topics.incidents))
    verdict.revisions = len(revisions)
    members: dict[str, set[str]] = defaultdict(set)  # namespace -> incident ids
    member_of: set[str] = set()
    latest: dict[str, Incident] = {}
    numbers: dict[str, set[int]] = defaultdict(set)
    for incident in revisions:
        numbers[incident.id].add(incident.revision)
        if incident.id not in latest or incident.revision >= latest[incident.id].revision:
            latest[incident.id] = incident
        for alert in incident.alerts:
            member_of.add(alert.fingerprint)
            if incident.merged_into is None:
                members[alert.labels.get("namespace", "")].add(incident.id)
    verdict.incidents = len(latest)
    verdict.lost = sorted(fp for fp in acknowledged if fp not in member_of)
    verdict.broken_url_alerts = (len(broken_url & member_of), len(broken_url & acknowledged.keys()))
    verdict.opened_twice = sorted(ns for ns, ids in members.items() if len(ids) > 1)
    _check_pages(verdict, pages, paths, latest, numbers, injected)
    quarantined = _quarantined(await read_values(kafka, kafka.topics.quarantine))
    _check_quarantine(verdict, quarantined, injected.poison)
    return verdict


def _incidents(values: list[bytes]) -> list[Incident]:
    found = []
    for value in values:
        try:
            found.append(Incident.from_bytes(value))
        except ValidationError:
            continue  # the poison record
    return found


def _quarantined(values: list[bytes]) -> list[Quarantined]:
    return [Quarantined.from_bytes(value) for value in values]


def _check_pages(
    verdict: Verdict,
    pages: list[Page],
    paths: tuple[str, ...],
    latest: dict[str, Incident],
    numbers: dict[str, set[int]],
    injected: Injected,
) -> None:
    windows = [at for at, what in injected.done if what in _WINDOW_FAULTS]
    taken: dict[tuple[str, str], list[Page]] = defaultdict(list)
    for page in pages:
        if page.repeat:
            verdict.repeats += 1
            continue
        verdict.pages += 1
        taken[(page.path, page.incident)].append(page)
    for (path, incident), got in taken.items():
        got.sort(key=lambda p: p.at)
        first: dict[int, Page] = {}
        for page in got:
            if page.revision not in first:
                first[page.revision] = page
                continue
            earlier = first[page.revision]
            if any(earlier.at - _SLACK <= at <= page.at for at in windows):
                verdict.window += 1
            else:
                verdict.duplicated.append(f"{incident}#{page.revision}@{path}")
        revisions = [page.revision for page in got]
        if revisions != sorted(revisions):
            verdict.out_of_order.append(f"{incident}@{path}: {revisions}")
    for incident_id, incident in latest.items():
        for path in paths:
            got = taken.get((path, incident_id), [])
            delivered = max((p.revision for p in got), default=0)
            if not got and incident.status == "resolved":
                verdict.unheard_resolves += 1
            elif delivered < incident.revision:
                verdict.undelivered.append(f"{incident_id}@{path}: {delivered}/{incident.revision}")
            else:
                verdict.coalesced += len(numbers[incident_id] - {p.revision for p in got})


def _check_quarantine(
    verdict: Verdict, quarantined: list[Quarantined], poison: list[Poison]
) -> None:
    positions = {(q.topic, q.partition, q.offset) for q in quarantined}
    wanted = {(p.topic, p.partition, p.offset) for p in poison}
    verdict.poison = (len(wanted & positions), len(wanted))
    verdict.other_quarantined = [
        f"{q.worker}/{q.stage} {q.topic}:{q.partition}@{q.offset}: {q.error[:80]}"
        for q in quarantined
        if (q.topic, q.partition, q.offset) not in wanted
    ]
