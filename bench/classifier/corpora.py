"""The benchmark's corpora: two public catalogues read by path, seven organisations' fixtures.

Each corpus is one organisation or project's rules with the truth the
benchmark scores against: whether the organisation pages on the rule
(``critical``) or not. Severity words are read the way the organisation
wrote them, through ``MEANING`` where Corral's own spellings do not cover
them; the model under test never sees this table (adapting has to learn the
words itself). Labels that state severity are removed from what the models
read, so no model is scored on reading the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import normalize_severity
from services.triage.scoring.rulefiles import read_rules
from services.triage.scoring.siblings import positions

PUBLIC = ("awesome-prometheus-alerts", "monitoring-mixins")
FIXTURES = Path(__file__).parent / "corpora"
SHARED_RULES = Path(__file__).resolve().parents[3] / "shared" / "data" / "rules"

# Severity words of the fixtures that are not Corral spellings: Gardener's
# ``blocker`` ranks above its ``critical``, PingCAP's ``emergency`` above its.
MEANING = {"blocker": "critical", "emergency": "critical"}
# Labels that state a rule's severity in some corpus.
REVEALING = frozenset({"severity", "level", "priority", "urgency", "criticality"})
# Held out for evaluation elsewhere: never trained on, never scored here.
EXCLUDED_MIXINS = frozenset({"gitlab"})


@dataclass(frozen=True)
class Rule:
    alert: AlertText  # labels as written, severity included
    severity: str  # critical, warning or info: the truth
    label: str  # the label the organisation states severity in

    @property
    def pages(self) -> bool:
        return self.severity == "critical"

    def unlabelled(self) -> AlertText:
        """The rule as the models may read it: no label that states severity."""
        labels = {k: v for k, v in self.alert.labels.items() if k not in REVEALING}
        return replace(self.alert, labels=labels)

    def as_written(self) -> AlertText:
        """The rule with its own severity label only, as a team's labelled rule file has it."""
        labels = {
            k: v for k, v in self.alert.labels.items() if k not in REVEALING or k == self.label
        }
        return replace(self.alert, labels=labels)


def truth(value: str | None) -> str | None:
    if value is None:
        return None
    return MEANING.get(value.strip().lower()) or normalize_severity(value)


def _public(path: Path) -> list[Rule]:
    raw = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("mixin") in EXCLUDED_MIXINS or truth(row.get("severity")) is None:
            continue
        labels = {str(k): str(v) for k, v in (row.get("labels") or {}).items()}
        annotations = {str(k): str(v) for k, v in (row.get("annotations") or {}).items()}
        alert = AlertText(row["alertname"], labels, annotations, row.get("expr") or "")
        raw.append((alert, truth(row["severity"]) or ""))
    placed = positions([(a.alertname, a.expr) for a, _ in raw])
    return [
        Rule(replace(a, sibling=p), s, "severity") for (a, s), p in zip(raw, placed, strict=True)
    ]


def _fixture(path: Path) -> list[Rule]:
    rules = []
    for rule in read_rules([path]):
        labels = rule.alert.labels
        label = "severity" if "severity" in labels else "level"
        severity = truth(labels.get(label))
        if severity is None:
            raise ValueError(f"{path}: rule {rule.alert.alertname} states no severity")
        rules.append(Rule(rule.alert, severity, label))
    return rules


def load(shared: Path = SHARED_RULES) -> dict[str, list[Rule]]:
    """Every corpus by name; the public ones only when their files are there."""
    corpora = {}
    for name in PUBLIC:
        path = shared / f"{name}.jsonl"
        if path.is_file():
            corpora[name] = _public(path)
    for path in sorted(FIXTURES.glob("*.yml")):
        corpora[path.stem] = _fixture(path)
    return corpora
