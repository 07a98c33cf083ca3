"""What the classifier sees of an alert: words and PromQL tokens, never its severity.

Training rows (rule files, JSONL catalogues) and live alerts go through the
same functions, so a model sees the same kind of text when it is trained as
when it scores: rule annotations keep their ``{{ $labels.x }}`` templates, live
ones are rendered, and both reduce to the words around them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import numpy as np

from shared.messages import IncidentAlert

# The columns of a feature row, in order; the pipeline addresses them by index.
COLUMNS = ("name", "text", "expr", "expr_words", "labels", "context")
# Bumped whenever ``row`` changes what it produces: a model trained on another
# version would read the rows wrongly and is refused at load.
VERSION = 2

# Labels that are not evidence: the target itself, and the name (its own column).
EXCLUDED_LABELS = frozenset({"severity", "alertname"})
TEXT_ANNOTATIONS = ("summary", "description", "message", "title")

_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z][a-z0-9]+")
_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)", re.IGNORECASE)
_FUNCTION = re.compile(r"\b([a-z_]+)\s*\(")
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_OPERATORS = {"==": "eq", "!=": "ne", ">=": "gt", ">": "gt", "<=": "lt", "<": "lt"}


@dataclass(frozen=True)
class AlertText:
    """The parts of an alert (or alert rule) the classifier reads.

    ``sibling`` is the rule's position among rules of the same name (see
    ``siblings``); it depends on the rule set, so whoever knows the set fills
    it in, and '' means unknown.
    """

    alertname: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    expr: str = ""
    sibling: str = ""

    @classmethod
    def of(cls, alert: IncidentAlert) -> AlertText:
        return cls(
            alertname=alert.labels.get("alertname", ""),
            labels=alert.labels,
            annotations=alert.annotations,
            expr=expr_from_generator_url(alert.generator_url),
        )


def expr_from_generator_url(url: str) -> str:
    """The PromQL of ``g0.expr=`` in a Prometheus generator URL, or ''.

    The URL is whatever the sender wrote; one ``urlsplit`` cannot parse
    (``http://[``, an unclosed IPv6 host) has no expression to read either.
    """
    if not url:
        return ""
    try:
        query = urlsplit(url).query
    except ValueError:
        return ""
    values = parse_qs(query).get("g0.expr")
    return values[0] if values else ""


def words(text: str) -> str:
    """Lower-case words, CamelCase and snake_case split, templates dropped."""
    text = _CAMEL.sub(" ", _TEMPLATE.sub(" ", text))
    return " ".join(_WORD.findall(text.replace("_", " ").lower()))


def _threshold(value: float) -> str:
    """A comparison constant by its kind: down checks (0, 1), ratios, percents, sizes."""
    if value == 0:
        return "zero"
    if value == 1:
        return "one"
    if 0 < value < 1:
        return f"ratio{int(value * 10)}"
    if 1 < value <= 100:
        return f"pct{int(value // 10)}"
    return "large"


def expr_tokens(expr: str) -> str:
    """PromQL as tokens: comparisons with their threshold kind, functions, metric names."""
    tokens = []
    for operator, number in _COMPARISON.findall(expr):
        name = _OPERATORS[operator]
        tokens += [f"cmp_{name}", f"cmp_{name}_{_threshold(float(number))}"]
    tokens += [f"fn_{name}" for name in _FUNCTION.findall(expr.lower())]
    tokens += [name.lower() for name in _IDENTIFIER.findall(expr)]
    return " ".join(tokens)


def label_tokens(labels: Mapping[str, str]) -> str:
    tokens = []
    for name, value in sorted(labels.items()):
        if name in EXCLUDED_LABELS:
            continue
        tokens += [name, f"{name}={'_'.join(value.lower().split())[:64]}"]
    return " ".join(tokens)


def row(alert: AlertText) -> list[str]:
    annotations = alert.annotations
    text = " ".join(annotations.get(key, "") for key in TEXT_ANNOTATIONS)
    columns = [
        words(alert.alertname),
        words(text),
        expr_tokens(alert.expr),
        words(alert.expr.replace(":", " ")),
        label_tokens(alert.labels),
        alert.sibling,
    ]
    # An empty column says something too (no expression known, no labels), and
    # a vectorizer must never see a column without any token at all.
    return [value or f"no{name}" for name, value in zip(COLUMNS, columns, strict=True)]


def matrix(alerts: Sequence[AlertText]) -> np.ndarray:
    """Feature rows as the 2-D object array the pipeline's ColumnTransformer takes."""
    rows = np.empty((len(alerts), len(COLUMNS)), dtype=object)
    for i, alert in enumerate(alerts):
        rows[i] = row(alert)
    return rows
