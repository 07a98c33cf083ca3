"""The routing tree, evaluated as Alertmanager evaluates ``route:``.

Depth first: an incident descends into the first child route whose matchers
it satisfies, and on into that child's children; it stops at the first match
among siblings unless that route sets ``continue``. A route with no matching
child delivers to its own receiver, or to the receivers of its escalation
policy. Children inherit the receiver, ``group_wait``, ``group_interval``
and ``repeat_interval`` of their parent when they set none (an escalation
policy is a route's own); the root defaults to ``group_wait: 0s`` (triage
has already grouped the alerts), ``group_interval: 10m`` (the storm
benchmark's choice, see docs/notify.md) and Alertmanager's
``repeat_interval: 4h``. Time intervals are a route's own (``held_by``): a
route muted now still matches, and still ends the search unless it
continues, as in Alertmanager.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notify.config import Route
from services.notify.escalation import Policy
from shared.matchers import Matcher, matches_all
from shared.messages import Incident
from shared.timeintervals import DEFAULT_HORIZON, TimeIntervals

DEFAULT_GROUP_WAIT = timedelta(0)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=10)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)


@dataclass(frozen=True)
class RouteNode:
    receiver: str
    matchers: tuple[Matcher, ...]
    continue_: bool
    group_wait: timedelta
    repeat_interval: timedelta
    children: tuple[RouteNode, ...]
    path: str
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    group_interval: timedelta = DEFAULT_GROUP_INTERVAL
    escalation: Policy | None = None

    @classmethod
    def build(
        cls,
        route: Route,
        parent: RouteNode | None = None,
        path: str = "route",
        policies: Mapping[str, Policy] | None = None,
    ) -> RouteNode:
        policies = policies or {}
        node = cls(
            receiver=route.receiver or (parent.receiver if parent else ""),
            matchers=tuple(route.parsed_matchers()),
            continue_=route.continue_,
            group_wait=_inherit(
                route.group_wait, parent.group_wait if parent else None, DEFAULT_GROUP_WAIT
            ),
            group_interval=_inherit(
                route.group_interval,
                parent.group_interval if parent else None,
                DEFAULT_GROUP_INTERVAL,
            ),
            escalation=policies[route.escalation] if route.escalation else None,
            repeat_interval=_inherit(
                route.repeat_interval,
                parent.repeat_interval if parent else None,
                DEFAULT_REPEAT_INTERVAL,
            ),
            children=(),
            path=path,
            # Not inherited, as in Alertmanager.
            mute_time_intervals=tuple(route.mute_time_intervals),
            active_time_intervals=tuple(route.active_time_intervals),
        )
        children = tuple(
            cls.build(child, node, f"{path}.routes[{i}]", policies)
            for i, child in enumerate(route.routes)
        )
        return dataclasses.replace(node, children=children)

    def walk(self) -> Iterator[RouteNode]:
        """This route and every route under it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def receivers(self) -> tuple[str, ...]:
        """Who the route notifies: its receiver, or its escalation policy's."""
        return self.escalation.receivers if self.escalation else (self.receiver,)

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
    """What routes and silences match on: the incident's common labels, its
    triage verdict, and its id (a silence on ``incident_id`` acknowledges it)."""
    return {
        **incident.labels,
        "priority": incident.priority,
        "severity": incident.severity,
        "status": incident.status.value,
        "incident_id": incident.id,
    }


def routes_for(root: RouteNode, labels: Mapping[str, str]) -> list[RouteNode]:
    """Matching routes, one per receiver (the first, whose timing applies)."""
    return list({id(node): node for node in destinations(root, labels).values()}.values())


def destinations(root: RouteNode, labels: Mapping[str, str]) -> dict[str, RouteNode]:
    """Receivers of the matching routes (an escalation policy's too), each with
    its first route (whose timing applies)."""
    found: dict[str, RouteNode] = {}
    for node in root.match(labels):
        for receiver in node.receivers:
            found.setdefault(receiver, node)
    return found


def receivers_for(root: RouteNode, incident: Incident) -> list[str]:
    return list(destinations(root, routing_labels(incident)))


def _inherit(own: timedelta | None, parent: timedelta | None, default: timedelta) -> timedelta:
    if own is not None:
        return own
    return parent if parent is not None else default


def held_by(route: RouteNode, intervals: TimeIntervals, now: datetime) -> list[str]:
    """The time intervals that hold this route's notifications now: its
    ``mute_time_intervals`` in force, and its ``active_time_intervals`` when
    none of them is."""
    held = intervals.active(route.mute_time_intervals, now)
    if route.active_time_intervals and not intervals.contains(route.active_time_intervals, now):
        held += list(route.active_time_intervals)
    return held


def released_at(route: RouteNode, intervals: TimeIntervals, now: datetime) -> datetime:
    """When a route held now may send again: the first moment neither a mute
    interval nor the lack of an active one holds it (looked at again a
    horizon later if that is further)."""
    moment = now
    for _ in range(16):  # each step leaves one window; windows rarely chain this far
        if intervals.contains(route.mute_time_intervals, moment):
            names = route.mute_time_intervals
        elif route.active_time_intervals and not intervals.contains(
            route.active_time_intervals, moment
        ):
            names = route.active_time_intervals
        else:
            return moment
        following = intervals.next_change(names, moment)
        if following is None:
            return now + DEFAULT_HORIZON
        moment = following
    return moment
