"""Scope grouping: alerts with equal values of a scope's labels, close in
time, form one incident whatever their names.

Scopes are tried in order; an alert belongs to the first scope whose labels
it carries, all of them non-empty (``[namespace]`` before ``[node]`` before
``[alertname]``, say). It joins the firing incident of that scope that
changed within ``group_window``, or opens one.
"""

from __future__ import annotations

from datetime import timedelta

from services.triage.membership import Membership, open_candidates
from services.triage.stages import AlertEvent, TriageContext
from shared.durations import format_duration

SCOPE = "s"


def scope_of(scopes: list[list[str]], labels: dict[str, str]) -> tuple[int, str] | None:
    for index, names in enumerate(scopes):
        parts = []
        for name in names:
            value = labels.get(name)
            if not value:
                break
            parts.append(f"{name}={value}")
        else:
            return index, ",".join(parts)
    return None


class ScopePolicy:
    def __init__(self, membership: Membership, scopes: list[list[str]], window: timedelta):
        self.membership = membership
        self.scopes = scopes
        self.window = window
        self.within = f"within {format_duration(window)}"

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        found = scope_of(self.scopes, event.alert.labels)
        if found is None:
            return False
        index, text = found
        key = event.key(f"{SCOPE}{index}", text)
        event.keys.append(key)
        candidates = open_candidates(ctx, [key], event, self.window)
        if not candidates:
            return False
        reason = f"same {text} {self.within}"
        self.membership.join(ctx, candidates, event, "scope", reason)
        return True
