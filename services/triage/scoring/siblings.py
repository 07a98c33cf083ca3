"""Rules that share a name at different thresholds: the stricter one is the more urgent.

Teams often write one alert twice, ``DiskFull`` at 25% free as a warning and
at 10% as critical, or ``CertificateExpiry`` at 30 days and at 3 days. Read
alone, the two rules look alike; read together, their order says which one
pages. A rule's *sibling position* names that order: ``sib_strictest``,
``sib_middle``, ``sib_laxest``, ``sib_same`` (siblings whose thresholds do
not differ) or ``sib_none``. It is worked out from the rule set the rule
belongs to (the files read together), and for a live alert from the index
of rules the model was trained and adapted with, matched by alert name and
by the PromQL of its generator URL.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

NONE, SAME, STRICTEST, MIDDLE, LAXEST, UNKNOWN = (
    "sib_none",
    "sib_same",
    "sib_strictest",
    "sib_middle",
    "sib_laxest",
    "sib_unknown",
)

_COMPARISON = re.compile(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)", re.IGNORECASE)

Strictness = tuple[float, ...]


def strictness(expr: str) -> Strictness:
    """The ordering comparisons of an expression, each as "bigger is stricter"."""
    return tuple(
        float(value) if operator.startswith(">") else -float(value)
        for operator, value in _COMPARISON.findall(expr)
    )


def position(own: Strictness | None, siblings: Sequence[Strictness]) -> str:
    """Where ``own`` stands among the thresholds of all rules of its name (itself included)."""
    if len(siblings) < 2:
        return NONE
    if own is None:
        return UNKNOWN
    width = len(own)
    if width == 0 or any(len(s) != width for s in siblings):
        return SAME
    decisive = next((k for k in range(width) if len({s[k] for s in siblings}) > 1), None)
    if decisive is None:
        return SAME
    values = sorted({s[decisive] for s in siblings})
    if own[decisive] == values[-1]:
        return STRICTEST
    return LAXEST if own[decisive] == values[0] else MIDDLE


def positions(rules: Sequence[tuple[str, str]]) -> list[str]:
    """The sibling position of each ``(alertname, expr)`` within the rule set given."""
    groups: dict[str, list[Strictness]] = defaultdict(list)
    own = [strictness(expr) for _, expr in rules]
    for (name, _), value in zip(rules, own, strict=True):
        groups[name].append(value)
    return [position(value, groups[name]) for (name, _), value in zip(rules, own, strict=True)]


class SiblingIndex:
    """The thresholds of every alert name that more than one known rule carries."""

    def __init__(self, groups: Mapping[str, Sequence[Strictness]]):
        self.groups = {name: list(values) for name, values in groups.items() if len(values) > 1}

    @classmethod
    def of(cls, rules: Iterable[tuple[str, str]]) -> SiblingIndex:
        groups: dict[str, list[Strictness]] = defaultdict(list)
        for name, expr in rules:
            value = strictness(expr)
            if value not in groups[name]:
                groups[name].append(value)
        return cls(groups)

    def position(self, alertname: str, expr: str) -> str:
        known = self.groups.get(alertname)
        if not known:
            return NONE
        if not expr:
            return UNKNOWN
        own = strictness(expr)
        return position(own, known if own in known else [*known, own])

    def to_json(self) -> dict[str, list[list[float]]]:
        return {name: [list(v) for v in values] for name, values in sorted(self.groups.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[Sequence[float]]] | None) -> SiblingIndex:
        return cls({name: [tuple(v) for v in values] for name, values in (data or {}).items()})
