"""Fitting the severity classifier: a scikit-learn pipeline over an alert's text.

TF-IDF over each column of ``features.row`` (alert name, annotation text,
PromQL tokens and words, labels, the rule's position among its siblings), a
class-balanced logistic regression so
the rare ``info`` class is not drowned out, and temperature scaling fitted on
cross-validated predictions, which calibrates the probabilities without
changing which class wins.
"""

from __future__ import annotations

import platform
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from services.triage.scoring import features
from services.triage.scoring.classifier import SeverityModel
from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import SEVERITIES
from services.triage.scoring.siblings import SiblingIndex

CALIBRATION_FOLDS = 3


@dataclass(frozen=True)
class Example:
    """One training row: an alert (or alert rule) and the severity it should get."""

    alert: AlertText
    severity: str
    weight: float = 1.0
    origin: str = ""


def _tfidf(**options: Any) -> TfidfVectorizer:
    return TfidfVectorizer(sublinear_tf=True, **options)


def build_pipeline(folds: int = CALIBRATION_FOLDS) -> Pipeline:
    column = {name: i for i, name in enumerate(features.COLUMNS)}
    vectors = ColumnTransformer(
        [
            ("name", _tfidf(ngram_range=(1, 2)), column["name"]),
            (
                "name_chars",
                _tfidf(analyzer="char_wb", ngram_range=(3, 5), min_df=2),
                column["name"],
            ),
            ("text", _tfidf(), column["text"]),
            ("expr", _tfidf(token_pattern=r"\S+"), column["expr"]),
            ("expr_words", _tfidf(), column["expr_words"]),
            ("labels", _tfidf(token_pattern=r"\S+"), column["labels"]),
            ("context", _tfidf(token_pattern=r"\S+"), column["context"]),
        ]
    )
    regression = LogisticRegression(
        C=3.0, class_weight="balanced", solver="newton-cg", max_iter=1000
    )
    calibrated = CalibratedClassifierCV(regression, method="temperature", cv=folds, ensemble=False)
    return Pipeline([("features", vectors), ("classifier", calibrated)])


def scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision and recall, and the confusion matrix."""
    labels = [s for s in SEVERITIES if s in set(truth) | set(predicted)]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    return {
        "rows": len(truth),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, labels=labels, average="macro")), 4),
        "per_class": {
            label: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "labels": labels,
        "confusion_matrix": _confusion(truth, predicted, labels),
    }


def _confusion(
    truth: Sequence[str], predicted: Sequence[str], labels: list[str]
) -> list[list[int]]:
    with warnings.catch_warnings():
        # sklearn warns when only one class occurs; the matrix is still right.
        warnings.simplefilter("ignore", UserWarning)
        matrix: list[list[int]] = confusion_matrix(truth, predicted, labels=labels).tolist()
        return matrix


def _cross_validated(
    rows: np.ndarray, truth: list[str], weights: np.ndarray
) -> dict[str, Any] | None:
    """Held-out scores on the training data itself, when every class has enough rows."""
    smallest = min(Counter(truth).values())
    folds = min(5, smallest)
    if folds < 2 or len(set(truth)) < 2:
        return None
    predicted = cross_val_predict(
        build_pipeline(folds=min(CALIBRATION_FOLDS, max(2, smallest - smallest // folds))),
        rows,
        truth,
        cv=StratifiedKFold(folds, shuffle=True, random_state=0),
        params={"classifier__sample_weight": weights},
    )
    return {"folds": folds, **scores(truth, [str(p) for p in predicted])}


def train(
    examples: Sequence[Example],
    sources: Sequence[str] = (),
    cross_validate: bool = True,
    extra_rules: Sequence[AlertText] = (),
) -> SeverityModel:
    """Fit a model; raises ValueError when the data cannot train one.

    ``extra_rules`` are rules known without a severity (a team's unlabelled
    rules): they teach nothing but join the sibling index. Examples whose
    sibling position is unknown (verdicts on live alerts) get it from that
    index, as live alerts will at inference.
    """
    truth = [e.severity for e in examples]
    counts = Counter(truth)
    if len(counts) < 2:
        raise ValueError(f"training needs at least two severities, got {dict(counts)}")
    if min(counts.values()) < CALIBRATION_FOLDS:
        rare = sorted(s for s, n in counts.items() if n < CALIBRATION_FOLDS)
        raise ValueError(
            f"training needs at least {CALIBRATION_FOLDS} rows of each severity; "
            f"too few of {', '.join(rare)} ({dict(counts)})"
        )
    index = SiblingIndex.of(
        (a.alertname, a.expr)
        for a in [*(e.alert for e in examples if e.alert.sibling), *extra_rules]
    )
    alerts = [
        e.alert
        if e.alert.sibling
        else replace(e.alert, sibling=index.position(e.alert.alertname, e.alert.expr))
        for e in examples
    ]
    rows = features.matrix(alerts)
    weights = np.array([e.weight for e in examples], dtype=float)
    pipeline = build_pipeline()
    pipeline.fit(rows, truth, classifier__sample_weight=weights)
    metadata = {
        "created": datetime.now(UTC).isoformat(),
        "labels": sorted(counts),
        "training_data": {
            "rows": len(examples),
            "severities": dict(sorted(counts.items())),
            "origins": dict(sorted(Counter(e.origin for e in examples if e.origin).items())),
            "sources": list(sources),
        },
        "metrics": {
            "cross_validated": _cross_validated(rows, truth, weights) if cross_validate else None
        },
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "features": {"version": features.VERSION, "columns": list(features.COLUMNS)},
        "siblings": index.to_json(),
    }
    return SeverityModel(pipeline, metadata)
