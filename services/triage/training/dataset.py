"""Training and evaluation data: JSONL alert catalogues and Prometheus rule files.

A team trains on the rule repository it already has: ``groups:`` rule files
as Prometheus reads them, PrometheusRule manifests of the Prometheus
Operator (``spec.groups``, several documents per file allowed), or JSONL with
one rule per line (``alertname``, ``expr``, ``labels``, ``annotations``,
``severity``). A rule's severity is its ``severity`` label (or the JSONL
``severity`` field), in any common spelling; rules without one are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.triage.scoring.features import AlertText, expr_from_generator_url
from services.triage.scoring.levels import normalize_severity
from services.triage.training.train import Example


class DatasetError(Exception):
    """Data that cannot be read; the message names file and line."""


@dataclass
class Dataset:
    examples: list[Example] = field(default_factory=list)
    skipped: int = 0
    sources: list[str] = field(default_factory=list)

    def extend(self, other: Dataset) -> None:
        self.examples += other.examples
        self.skipped += other.skipped
        self.sources += other.sources


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


def _example(rule: Mapping[str, Any], severity: Any, origin: str) -> Example | None:
    level = normalize_severity(str(severity)) if severity is not None else None
    if level is None:
        return None
    return Example(alert_text(rule), level, origin=origin)


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


def read_jsonl(path: Path) -> Dataset:
    data = Dataset(sources=[str(path)])
    with path.open() as lines:
        for row in json_rows(lines, str(path)):
            severity = row.get("severity", _strings(row.get("labels")).get("severity"))
            example = _example(row, severity, path.name)
            if example is None:
                data.skipped += 1
            else:
                data.examples.append(example)
    return data


def _groups(document: Any) -> list[Any]:
    if not isinstance(document, Mapping):
        return []
    if document.get("kind") == "PrometheusRule":
        document = document.get("spec") or {}
    groups = document.get("groups")
    return groups if isinstance(groups, list) else []


def _alert_rules(documents: list[Any]) -> Iterator[Mapping[str, Any]]:
    for document in documents:
        for group in _groups(document):
            rules = group.get("rules") if isinstance(group, Mapping) else None
            for rule in rules or []:
                if isinstance(rule, Mapping) and rule.get("alert"):
                    yield rule


def read_rule_file(path: Path) -> Dataset:
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DatasetError(f"{path}{line}: invalid YAML: {exc}") from None
    if not any(_groups(d) for d in documents):
        raise DatasetError(f"{path}: no rule groups (expected `groups:` or a PrometheusRule)")
    data = Dataset(sources=[str(path)])
    for rule in _alert_rules(documents):
        example = _example(rule, _strings(rule.get("labels")).get("severity"), path.name)
        if example is None:
            data.skipped += 1
        else:
            data.examples.append(example)
    return data


def read(paths: list[str | Path]) -> Dataset:
    """Every file given, JSONL by its ``.jsonl``/``.json`` suffix, else rule YAML."""
    data = Dataset()
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise DatasetError(f"{path}: no such file")
        try:
            part = read_jsonl(path) if path.suffix in (".jsonl", ".json") else read_rule_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{path}: cannot read: {exc}") from None
        data.extend(part)
    return data
