"""Alerting rules as teams keep them: ``groups:`` rule files, PrometheusRule manifests, JSONL.

``groups:`` files as Prometheus reads them, PrometheusRule manifests of the
Prometheus Operator (``spec.groups``, several documents per file allowed), or
JSONL with one rule (``alertname``, ``expr``, ``labels``, ``annotations``,
``severity``) or fired alert (``labels``, ``annotations``, ``generator_url``)
per line. Reading needs no model, so configuration checks use it too.

The files read together are one rule set: each rule's position among the
rules of its name (``siblings``) is worked out across all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from services.triage.scoring import siblings
from services.triage.scoring.features import AlertText, expr_from_generator_url


class DatasetError(Exception):
    """Data that cannot be read; the message names file and line."""


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def alert_text(row: Mapping[str, Any]) -> AlertText:
    """A rule (``alert``/``alertname``, ``expr``) or a fired alert (labels, generator URL)."""
    labels = _strings(row.get("labels"))
    expr = row.get("expr") or expr_from_generator_url(
        str(row.get("generator_url") or row.get("generatorURL") or "")
    )
    return AlertText(
        alertname=str(row.get("alertname") or row.get("alert") or labels.get("alertname", "")),
        labels=labels,
        annotations=_strings(row.get("annotations")),
        expr=str(expr),
    )


def json_rows(lines: Iterable[str], name: str) -> Iterator[dict[str, Any]]:
    """The objects of a JSONL stream; blank lines are skipped, anything else is an error."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{name}:{number}: invalid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{name}:{number}: expected a JSON object per line")
        yield row


@dataclass
class AlertRule:
    """An alerting rule as read, its labels as written (severity included)."""

    alert: AlertText
    origin: str


def _jsonl_rules(path: Path) -> list[AlertRule]:
    rules = []
    with path.open() as lines:
        for row in json_rows(lines, str(path)):
            alert = alert_text(row)
            stated = row.get("severity")
            if stated is not None and "severity" not in alert.labels:
                alert = replace(alert, labels={**alert.labels, "severity": str(stated)})
            rules.append(AlertRule(alert, path.name))
    return rules


def _groups(document: Any) -> list[Any]:
    if not isinstance(document, Mapping):
        return []
    if document.get("kind") == "PrometheusRule":
        document = document.get("spec") or {}
    groups = document.get("groups")
    return groups if isinstance(groups, list) else []


def _rule_mappings(documents: list[Any]) -> Iterator[Mapping[str, Any]]:
    for document in documents:
        for group in _groups(document):
            rules = group.get("rules") if isinstance(group, Mapping) else None
            for rule in rules or []:
                if isinstance(rule, Mapping) and rule.get("alert"):
                    yield rule


def _yaml_rules(path: Path) -> list[AlertRule]:
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DatasetError(f"{path}{line}: invalid YAML: {exc}") from None
    if not any(_groups(d) for d in documents):
        raise DatasetError(f"{path}: no rule groups (expected `groups:` or a PrometheusRule)")
    return [AlertRule(alert_text(rule), path.name) for rule in _rule_mappings(documents)]


def read_rules(paths: Sequence[str | Path]) -> list[AlertRule]:
    """Every alerting rule of the files, JSONL by its ``.jsonl``/``.json`` suffix, else YAML."""
    found: list[AlertRule] = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise DatasetError(f"{path}: no such file")
        try:
            found += _jsonl_rules(path) if path.suffix in (".jsonl", ".json") else _yaml_rules(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{path}: cannot read: {exc}") from None
    placed = siblings.positions([(r.alert.alertname, r.alert.expr) for r in found])
    return [
        AlertRule(replace(r.alert, sibling=position), r.origin)
        for r, position in zip(found, placed, strict=True)
    ]
