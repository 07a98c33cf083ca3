"""Topology: alerts on a service and on what it depends on, close in time,
form one incident whose probable root is the deepest failing dependency.

The map (``triage.topology``) says which service depends on which. An alert
on service S joins a firing incident that has an alert on S, on anything S
depends on, or on anything depending on S, changed within ``group_window``.
"""

from __future__ import annotations

from datetime import timedelta

from services.triage.membership import Membership, open_candidates
from services.triage.servicemap import ServiceMap
from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import IncidentState, describe_listed
from shared.durations import format_duration

SERVICE = "v"


class TopologyPolicy:
    def __init__(self, membership: Membership, services: ServiceMap, label: str, window: timedelta):
        self.membership = membership
        self.services = services
        self.label = label
        self.window = window

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        service = event.alert.labels.get(self.label, "")
        if not service or service not in self.services:
            return False
        key = event.key(SERVICE, service)
        event.keys.append(key)
        event.anchors.append(key)
        related = sorted(self.services.related(service))
        candidates = open_candidates(
            ctx, [event.key(SERVICE, other) for other in related], event, self.window
        )
        if not candidates:
            return False
        incident = self.membership.join(
            ctx, candidates, event, "topology", self._reason(candidates[0], service)
        )
        self._name_root(ctx, incident)
        return True

    def _failing(self, incident: IncidentState) -> dict[str, str]:
        """Services with alerts in the incident, in the order they joined, with
        the first alert on each."""
        return {key.text: fp for key, fp in incident.anchors.items() if key.kind == SERVICE}

    def _reason(self, incident: IncidentState, service: str) -> str:
        window = format_duration(self.window)
        deps = self.services.depends_on

        def direct(other: str) -> bool:
            return other in deps.get(service, ()) or service in deps.get(other, ())

        for other in sorted(self._failing(incident), key=lambda other: not direct(other)):
            if other in self.services.below(service):
                path = " → ".join(self.services.path(service, other))
                return f"{service} depends on {other} ({path}), within {window}"
            if other in self.services.above(service):
                path = " → ".join(self.services.path(other, service))
                return f"{other} depends on {service} ({path}), within {window}"
        return f"same service {service} within {window}"

    def _name_root(self, ctx: TriageContext, incident: IncidentState) -> None:
        failing = self._failing(incident)
        root = self.services.deepest(list(failing))
        root_fp = failing[root]
        current = incident.root_cause
        if current == root_fp or (current is not None and current not in failing.values()):
            return  # named already, or named by a cause rule, which is explicit
        incident.root_cause = root_fp
        name = describe_listed(incident.members.get(root_fp), root)
        above = [s for s in failing if root in self.services.below(s)]
        chain = f" (failing above it: {', '.join(above)})" if above else ""
        incident.explain(f"probable root: {name}, the deepest failing dependency{chain}")
        ctx.mark_changed(incident)  # a new root is not mere growth
