"""Who hears of an incident: the routing tree, resolved to receiver integrations.

Admission routes each incident revision once; the route it chose is kept in
the sent-log entry (``route``), so a delivery uses the timing
(``repeat_interval``) of the route that admitted it, without routing again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from services.notify.entry import EntryKey, SentLogEntry
from services.notify.limits import Limiter
from services.notify.pipeline import Job
from services.notify.receivers.base import Integration
from services.notify.routing import RouteNode, routes_for, routing_labels
from shared.messages import Incident


@dataclass(frozen=True, slots=True)
class Target:
    route: RouteNode
    receiver: str
    integration: Integration


class Targets:
    def __init__(
        self,
        root: RouteNode,
        integrations: dict[str, list[Integration]],
        limiters: dict[str, Limiter],
    ):
        self.root = root
        self.integrations = integrations
        self.limiters = limiters
        self.routes = {node.path: node for node in _walk(root)}

    def of(self, incident: Incident, known: Iterable[SentLogEntry]) -> list[Target]:
        """Every integration that should hear of this revision: the routed
        ones, and those that already got the incident (``known``), which hear
        every later change and the resolve, even when the incident's labels
        (common to fewer alerts now) no longer route to them."""
        routes = {node.receiver: node for node in routes_for(self.root, routing_labels(incident))}
        for entry in known:
            if entry.revision or entry.attempting:
                routes.setdefault(entry.receiver, self.route_of(entry))
        return [
            Target(route, receiver, integration)
            for receiver, route in routes.items()
            for integration in self.integrations.get(receiver, [])
        ]

    def route_of(self, entry: SentLogEntry) -> RouteNode:
        """The route that admitted the entry; for one admitted before routes
        were kept, or by a route since removed, the route the incident takes
        now to its receiver (the root if none)."""
        route = self.routes.get(entry.route or "")
        if route is not None and route.receiver == entry.receiver:
            return route
        if entry.incident is not None:
            for node in routes_for(self.root, routing_labels(entry.incident)):
                if node.receiver == entry.receiver:
                    return node
        return self.root

    def integration(self, receiver: str, name: str) -> Integration | None:
        return next((i for i in self.integrations.get(receiver, []) if i.name == name), None)

    def acknowledges(self, entry: SentLogEntry) -> bool:
        integration = self.integration(entry.receiver, entry.integration)
        return integration is not None and integration.acknowledges

    def job(self, key: EntryKey, entry: SentLogEntry) -> Job | None:
        """The delivery a due entry stands for, with today's receivers; None
        when its receiver integration is no longer configured."""
        assert entry.incident is not None
        integration = self.integration(entry.receiver, entry.integration)
        if integration is None:
            return None
        return Job(
            key=key,
            entry=entry,
            incident=entry.incident,
            integration=integration,
            limiter=self.limiters[entry.receiver],
            route=self.route_of(entry),
        )


def _walk(node: RouteNode) -> Iterator[RouteNode]:
    yield node
    for child in node.children:
        yield from _walk(child)
