"""Which words and labels moved the classifier most, for the incident explanation.

The model is linear: a class's score is the sum over features of the
feature's TF-IDF weight in this alert times the class's coefficient. Measured
against the mean of all classes' coefficients, those products say how much
each word, label or PromQL token pushed this alert towards the class it got.
The largest few, named as a person would read them, go into the explanation.
Character n-grams of the name also count but are not named: "atab" explains
nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from services.triage.scoring import features, siblings

TOP = 3

_SIBLING_WORDS = {
    siblings.STRICTEST: "the strictest threshold of its name",
    siblings.MIDDLE: "a middle threshold of its name",
    siblings.LAXEST: "the laxest threshold of its name",
    siblings.SAME: "a sibling rule of the same name",
}
_OPERATORS = {"eq": "==", "ne": "!=", "gt": ">", "lt": "<"}
# What ``features.row`` writes into an empty column.
_EMPTY = frozenset(f"no{column}" for column in features.COLUMNS)


def readable(feature: str) -> str | None:
    """How a person reads a pipeline feature name (``column__token``); None: do not name it."""
    column, _, token = feature.partition("__")
    if column == "name_chars" or token in _EMPTY:
        return None
    match column:
        case "name" | "text":
            return f'"{token}"'
        case "labels":
            return f"label {token}" if "=" in token else f"label {token} present"
        case "context":
            words = _SIBLING_WORDS.get(token)
            return words and f"rule is {words}"
        case "expr" | "expr_words":
            return _expr(token)
    return token


def _expr(token: str) -> str:
    if token.startswith("fn_"):
        return f"{token[3:]}() in the expression"
    if token.startswith("cmp_"):
        _, operator, *kind = token.split("_")
        symbol = _OPERATORS.get(operator, operator)
        return f"'{symbol} {_threshold(kind[0])}' in the expression" if kind else f"'{symbol}' test"
    return f"'{token}' in the expression"


def _threshold(kind: str) -> str:
    """``features._threshold``'s kinds read back: 0, 1, a ratio, a percentage, a size."""
    if kind in ("zero", "one"):
        return "0" if kind == "zero" else "1"
    if kind.startswith("ratio"):
        return "ratio"
    return "percentage" if kind.startswith("pct") else "large number"


class Explainer:
    """Per-class coefficient differences of a fitted linear model, with readable names."""

    def __init__(self, coefficients: np.ndarray, classes: Sequence[str], names: Sequence[str]):
        coefficients = np.asarray(coefficients, dtype=float)
        if coefficients.shape[0] == 1:  # binary: one row, for the second class
            coefficients = np.vstack([-coefficients[0], coefficients[0]])
        self.towards = coefficients - coefficients.mean(axis=0)
        self.classes = list(classes)
        self.names = [readable(n) for n in names]

    def reasons(self, rows: sparse.csr_matrix, predicted: Sequence[str]) -> list[tuple[str, ...]]:
        """The few readable features that pushed each row most towards its predicted class."""
        rows = sparse.csr_matrix(rows)
        out: list[tuple[str, ...]] = []
        for i, label in enumerate(predicted):
            start, end = rows.indptr[i], rows.indptr[i + 1]
            columns = rows.indices[start:end]
            pushes = rows.data[start:end] * self.towards[self.classes.index(label), columns]
            totals: dict[str, float] = defaultdict(float)
            for column, push in zip(columns, pushes, strict=True):
                name = self.names[column]
                if name is not None:
                    totals[name] += push
            ranked = sorted((p, n) for n, p in totals.items() if p > 0)
            out.append(tuple(n for _, n in ranked[: -TOP - 1 : -1]))
        return out
