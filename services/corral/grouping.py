"""How two groupings of the same alerts compare: pairwise precision, recall
and F1 against a truth, and which incidents one config splits or joins
against another.

A grouping maps each alert (fingerprint) to the incident it ended up in.
Pairwise scores count pairs of alerts: a pair put in one incident is right
when the truth has them in one incident too, so a big incident weighs as many
pairs as it has, as it weighs on the people reading it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from math import comb
from pathlib import Path

from shared.history import HistoryError


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    alerts: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "alerts": self.alerts,
        }


def pairwise(truth: Mapping[str, str], predicted: Mapping[str, str]) -> Scores:
    """Precision, recall and F1 over pairs of the alerts both groupings know."""
    alerts = truth.keys() & predicted.keys()
    both = Counter((truth[a], predicted[a]) for a in alerts)
    same_truth = Counter(truth[a] for a in alerts)
    same_predicted = Counter(predicted[a] for a in alerts)
    agree = sum(comb(n, 2) for n in both.values())
    predicted_pairs = sum(comb(n, 2) for n in same_predicted.values())
    true_pairs = sum(comb(n, 2) for n in same_truth.values())
    precision = agree / predicted_pairs if predicted_pairs else 1.0
    recall = agree / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, len(alerts))


def read_truth(path: str | Path) -> dict[str, str]:
    """Fingerprint → true incident: a JSON object, or JSONL lines of
    ``{"fingerprint": ..., "incident": ...}``."""
    text = Path(path).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "fingerprint" not in data:
        return {str(fp): str(group) for fp, group in data.items()}
    truth: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            truth[str(row["fingerprint"])] = str(row["incident"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise HistoryError(
                f'{path}:{number}: expected {{"fingerprint": ..., "incident": ...}}'
            ) from None
    return truth


@dataclass(frozen=True)
class Change:
    """Incidents of one grouping whose alerts the other groups differently."""

    before: list[str]
    after: list[str]
    alerts: int


def changes(
    before: Mapping[str, str], after: Mapping[str, str]
) -> tuple[list[Change], list[Change]]:
    """(splits, joins) going from ``before`` to ``after``: an incident of
    ``before`` whose alerts ``after`` spreads over several incidents is split;
    an incident of ``after`` that gathers alerts of several of ``before``'s is
    a join. Alerts only one side saw are left out."""
    alerts = before.keys() & after.keys()
    forward: dict[str, set[str]] = defaultdict(set)
    backward: dict[str, set[str]] = defaultdict(set)
    for alert in alerts:
        forward[before[alert]].add(after[alert])
        backward[after[alert]].add(before[alert])
    sizes = Counter(before[a] for a in alerts)
    splits = [
        Change([b], sorted(targets), sizes[b])
        for b, targets in sorted(forward.items())
        if len(targets) > 1
    ]
    after_sizes = Counter(after[a] for a in alerts)
    joins = [
        Change(sorted(sources), [a], after_sizes[a])
        for a, sources in sorted(backward.items())
        if len(sources) > 1
    ]
    return splits, joins
