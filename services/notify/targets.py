"""Who hears of an incident: the routing tree, resolved to receiver integrations.

Admission routes each incident revision once; the route it chose is kept in
the sent-log entry (``route``), so a delivery uses the timing
(``group_interval``, ``repeat_interval``, the escalation policy) of the
route that admitted it, without routing again: its ``Plan``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.notify import transitions
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.limits import Limiter
from services.notify.pipeline import PAGING_PRIORITIES, Job, Plan
from services.notify.receivers.base import Integration
from services.notify.routing import RouteNode, destinations, routing_labels
from shared.messages import Incident


@dataclass(frozen=True, slots=True)
class Target:
    plan: Plan
    receiver: str
    integration: Integration

    @property
    def route(self) -> RouteNode:
        return self.plan.route


class Targets:
    def __init__(
        self,
        root: RouteNode,
        integrations: dict[str, list[Integration]],
        limiters: dict[str, Limiter],
        paging: Iterable[str] = PAGING_PRIORITIES,
    ):
        self.root = root
        self.integrations = integrations
        self.limiters = limiters
        self.paging = frozenset(paging)
        self.routes = {node.path: node for node in root.walk()}

    def of(self, incident: Incident, known: Iterable[SentLogEntry]) -> list[Target]:
        """Every integration that should hear of this revision: the routed
        ones, and those that already got the incident (``known``), which hear
        every later change and the resolve, even when the incident's labels
        (common to fewer alerts now) no longer route to them."""
        routes = destinations(self.root, routing_labels(incident))
        for entry in known:
            if entry.revision or entry.attempting or entry.step is not None:
                routes.setdefault(entry.receiver, self.route_of(entry))
        return [
            Target(self._plan(route, integration), receiver, integration)
            for receiver, route in routes.items()
            for integration in self.integrations.get(receiver, [])
        ]

    def _plan(self, route: RouteNode, integration: Integration) -> Plan:
        return Plan(route, self.paging, frozenset(getattr(integration, "responses", ())))

    def plan(self, entry: SentLogEntry) -> Plan | None:
        """The entry's plan with today's config; None when its receiver
        integration is no longer configured."""
        integration = self.integration(entry.receiver, entry.integration)
        if integration is None:
            return None
        return self._plan(self.route_of(entry), integration)

    def route_of(self, entry: SentLogEntry) -> RouteNode:
        """The route that admitted the entry; for one admitted before routes
        were kept, or by a route since removed, the route the incident takes
        now to its receiver (the root if none)."""
        route = self.routes.get(entry.route or "")
        if route is not None and entry.receiver in route.receivers:
            return route
        if entry.incident is not None:
            node = destinations(self.root, routing_labels(entry.incident)).get(entry.receiver)
            if node is not None:
                return node
        return self.root

    def integration(self, receiver: str, name: str) -> Integration | None:
        return next((i for i in self.integrations.get(receiver, []) if i.name == name), None)

    def acknowledges(self, entry: SentLogEntry) -> bool:
        integration = self.integration(entry.receiver, entry.integration)
        return integration is not None and integration.acknowledges

    def job(self, key: EntryKey, entry: SentLogEntry, plan: Plan, now: datetime) -> Job | None:
        """The delivery a due entry stands for now, with today's receivers;
        None when nothing is due after all."""
        assert entry.incident is not None
        work = transitions.work(entry, plan, now)
        integration = self.integration(entry.receiver, entry.integration)
        if work is None or integration is None:
            return None
        return Job(
            key=key,
            entry=entry,
            incident=entry.incident,
            integration=integration,
            limiter=self.limiters[entry.receiver],
            plan=plan,
            work=work,
        )
