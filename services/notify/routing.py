"""The routing tree, evaluated as Alertmanager evaluates ``route:``.

Depth first: an incident descends into the first child route whose matchers
it satisfies, and on into that child's children; it stops at the first match
among siblings unless that route sets ``continue``. A route with no matching
child delivers to its own receiver. Children inherit the receiver of their
parent when they name none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.notify.config import Route
from shared.matchers import Matcher, matches_all
from shared.messages import Incident


@dataclass(frozen=True)
class RouteNode:
    receiver: str
    matchers: tuple[Matcher, ...]
    continue_: bool
    children: tuple[RouteNode, ...]
    path: str

    @classmethod
    def build(cls, route: Route, parent_receiver: str = "", path: str = "route") -> RouteNode:
        receiver = route.receiver or parent_receiver
        return cls(
            receiver=receiver,
            matchers=tuple(route.parsed_matchers()),
            continue_=route.continue_,
            children=tuple(
                cls.build(child, receiver, f"{path}.routes[{i}]")
                for i, child in enumerate(route.routes)
            ),
            path=path,
        )

    def match(self, labels: Mapping[str, str]) -> list[RouteNode]:
        """The routes whose receivers get an incident with these labels."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[RouteNode] = []
        for child in self.children:
            matched = child.match(labels)
            if matched:
                found.extend(matched)
                if not child.continue_:
                    break
        return found or [self]


def routing_labels(incident: Incident) -> dict[str, str]:
    """What routes match on: the incident's common labels plus its triage verdict."""
    return {
        **incident.labels,
        "priority": incident.priority,
        "severity": incident.severity,
        "status": incident.status.value,
    }


def receivers_for(root: RouteNode, incident: Incident) -> list[str]:
    names: list[str] = []
    for node in root.match(routing_labels(incident)):
        if node.receiver not in names:
            names.append(node.receiver)
    return names
