"""Who would have been notified of which revision, and when: notify's routing
and admission, on event time, without sending anything.

The notify worker's routing tree (``routing.destinations``) picks the
receivers of a revision; as in the worker, receivers that already heard of
the incident hear every later change too; and the sent log's transitions
(``transitions.admitted``, ``work``, ``sent``, ``skipped``) decide whether
the revision is new for a receiver and when it is due (``group_wait`` after
the incident opened for the first notification, ``group_interval`` after
the last one for later changes, at once for a resolve or a raise into the
paging priorities). A due revision is then a *page* when it is the first
firing one a receiver gets of an incident, an *update* when it is a later
firing one, and a *resolve* when it resolves what the receiver was paged
for; a resolve of an incident a receiver never heard of is not sent, as in
notify's skip stage. Silences, ``repeat_interval`` resends and escalation
steps are not simulated.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.notify import transitions
from services.notify.config import Limits, NotifySettings
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.limits import Limiter
from services.notify.pipeline import Job, Plan, Sent
from services.notify.receivers.log import LogIntegration
from services.notify.routing import RouteNode, destinations, routing_labels
from shared.messages import Incident, IncidentStatus

PAGE = "page"
UPDATE = "update"
RESOLVE = "resolve"


@dataclass(frozen=True)
class Notice:
    """One notification a receiver would have got."""

    at: datetime
    kind: str
    receiver: str
    incident_id: str
    revision: int
    priority: str
    opened_at: datetime


@dataclass
class Paging:
    notices: list[Notice] = field(default_factory=list)

    @property
    def pages(self) -> list[Notice]:
        return [n for n in self.notices if n.kind == PAGE]


class NotifySimulation:
    def __init__(self, settings: NotifySettings):
        self.routes = RouteNode.build(settings.route)
        self.paging_priorities = frozenset(settings.paging_priorities)
        self.integration = LogIntegration("replay")
        self.limiter = Limiter(Limits())
        self.send_resolved = {
            r.name: any(
                c.send_resolved
                for configs in (
                    r.webhook_configs,
                    r.slack_configs,
                    r.pagerduty_configs,
                    r.email_configs,
                    r.log_configs,
                )
                for c in configs
            )
            for r in settings.receivers
        }
        self.routes_by_path = {node.path: node for node in self.routes.walk()}
        self.entries: dict[tuple[str, str], SentLogEntry] = {}
        self.heard: dict[str, list[str]] = {}
        self.due: list[tuple[datetime, int, str, str]] = []
        self.order = itertools.count()
        self.paging = Paging()

    def plan(self, route: RouteNode) -> Plan:
        # Repeats and escalation steps are not simulated.
        quiet = dataclasses.replace(route, repeat_interval=timedelta(0), escalation=None)
        return Plan(quiet, self.paging_priorities)

    def offer(self, incident: Incident, at: datetime) -> None:
        """A revision triage emitted at event time ``at``."""
        self.deliver_until(at)
        targets = destinations(self.routes, routing_labels(incident))
        for receiver in self.heard.get(incident.id, []):
            targets.setdefault(receiver, self.routes)
        for receiver, route in targets.items():
            key = (incident.id, receiver)
            plan = self.plan(route)
            entry = transitions.admitted(
                self.entries.get(key), incident, receiver, "replay", plan, at
            )
            if entry is None:
                continue
            self.entries[key] = entry
            self._schedule(entry, receiver)

    def _schedule(self, entry: SentLogEntry, receiver: str) -> None:
        if entry.due_at is not None:
            heapq.heappush(self.due, (entry.due_at, next(self.order), entry.incident_id, receiver))

    def deliver_until(self, until: datetime | None) -> None:
        """Deliver everything due before ``until`` (None: everything)."""
        while self.due and (until is None or self.due[0][0] < until):
            due, _, incident_id, receiver = heapq.heappop(self.due)
            entry = self.entries[(incident_id, receiver)]
            if entry.due_at != due or entry.incident is None:
                continue  # admitted again since; a later heap item stands for it
            entry = self._deliver(entry, entry.incident, due)
            self.entries[(incident_id, receiver)] = entry
            self._schedule(entry, receiver)

    def _deliver(self, entry: SentLogEntry, incident: Incident, at: datetime) -> SentLogEntry:
        plan = self.plan(self.routes_by_path.get(entry.route or "", self.routes))
        work = transitions.work(entry, plan, at)
        if work is None:
            return transitions.rescheduled(entry, plan, at)
        job = Job(
            EntryKey.of(0, entry.incident_id, entry.receiver, "replay"),
            entry,
            incident,
            self.integration,
            self.limiter,
            plan,
            work,
        )
        if incident.status == IncidentStatus.FIRING:
            kind = UPDATE if entry.revision else PAGE
        elif entry.had_trigger and self.send_resolved.get(entry.receiver, True):
            kind = RESOLVE
        else:
            return transitions.skipped(entry, job, at)
        if kind == PAGE:
            self.heard.setdefault(incident.id, []).append(entry.receiver)
        self.paging.notices.append(
            Notice(
                at,
                kind,
                entry.receiver,
                incident.id,
                incident.revision,
                incident.priority,
                incident.opened_at,
            )
        )
        return transitions.sent(entry, job, Sent(1), at)
