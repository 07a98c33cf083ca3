"""Training and evaluation data: the rules of rule files that state a severity.

A team trains on the rule repository it already has (any format
``rulefiles`` reads). A rule's severity is its ``severity`` label (or the
JSONL ``severity`` field), in any common spelling; rules without one are
skipped for training (``rulefiles.read_rules`` still returns them: adapting
to a team reads them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.triage.scoring.levels import normalize_severity
from services.triage.scoring.rulefiles import (
    DatasetError,
    alert_text,
    json_rows,
    read_rules,
)
from services.triage.training.train import Example

__all__ = ["Dataset", "DatasetError", "alert_text", "json_rows", "read", "read_rules"]


@dataclass
class Dataset:
    examples: list[Example] = field(default_factory=list)
    skipped: int = 0
    sources: list[str] = field(default_factory=list)

    def extend(self, other: Dataset) -> None:
        self.examples += other.examples
        self.skipped += other.skipped
        self.sources += other.sources


def read(paths: Sequence[str | Path]) -> Dataset:
    """Training rows: the rules of the files that state a severity."""
    data = Dataset(sources=[str(p) for p in paths])
    for rule in read_rules(paths):
        level = normalize_severity(rule.alert.labels.get("severity"))
        if level is None:
            data.skipped += 1
        else:
            data.examples.append(Example(rule.alert, level, origin=rule.origin))
    return data
