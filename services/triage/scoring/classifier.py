"""The severity classifier: a scikit-learn pipeline over an alert's text.

TF-IDF over each column of ``features.row`` (alert name, annotation text,
PromQL tokens and words, labels, the rule's position among its siblings), a
class-balanced logistic regression so the rare ``info`` class is not drowned
out, and temperature scaling fitted on cross-validated predictions, which
calibrates the probabilities without changing which class wins.

An alert pages (``critical``) when its probability of being critical, after
the team's paging-rate adjustment (``critical_shift``, see ``adapt``), is at
least one half; otherwise it gets the likelier of the other classes.
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
from scipy import sparse
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
from services.triage.scoring.explain import Explainer
from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import SEVERITIES
from services.triage.scoring.siblings import SiblingIndex
from services.triage.scoring.vocabulary import Vocabulary

CALIBRATION_FOLDS = 3


@dataclass(frozen=True)
class Example:
    """One training row: an alert (or alert rule) and the severity it should get."""

    alert: AlertText
    severity: str
    weight: float = 1.0
    origin: str = ""


@dataclass(frozen=True)
class Verdict:
    severity: str
    confidence: float
    probabilities: dict[str, float]
    # The words, labels and PromQL tokens that moved the model most towards ``severity``.
    reasons: tuple[str, ...] = ()

    @property
    def risk(self) -> float:
        """Expected urgency in [0, 1]: critical counts 1, warning 0.5, info 0."""
        p = self.probabilities
        return p.get("critical", 0.0) + 0.5 * p.get("warning", 0.0)


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


def shift_critical(probabilities: np.ndarray, column: int, shift: float) -> np.ndarray:
    """Multiply the odds of ``column`` by e**shift, keeping the other classes' proportions."""
    if shift == 0.0:
        return probabilities
    p = np.clip(probabilities[:, column], 1e-12, 1 - 1e-12)
    shifted = p * np.exp(shift) / (p * np.exp(shift) + 1 - p)
    out = probabilities * ((1 - shifted) / (1 - p))[:, None]
    out[:, column] = shifted
    return out


class SeverityModel:
    """A fitted pipeline plus what it was trained on; ``predict`` is thread-safe.

    The metadata carries what adapting to a team learned (``adaptation``: the
    team's severity vocabulary and paging-rate shift) and the sibling index of
    the rules it knows, used for live alerts whose rule set is not at hand.
    """

    def __init__(self, pipeline: Pipeline, metadata: dict[str, Any]):
        self.pipeline = pipeline
        self.metadata = metadata
        self.classes: list[str] = [str(c) for c in pipeline.classes_]
        adaptation = metadata.get("adaptation") or {}
        self.critical_shift = float(adaptation.get("critical_shift", 0.0))
        self.vocabulary = Vocabulary.from_json(adaptation.get("vocabulary"))
        self.siblings = SiblingIndex.from_json(metadata.get("siblings"))
        self._explainer: Explainer | None = None

    def rows(self, alerts: Sequence[AlertText]) -> np.ndarray:
        """Feature rows; an alert whose sibling position is unknown gets it from the index.

        The team's severity label, when it is not ``severity`` (which features
        never read), is removed like it was in training.
        """
        if self.vocabulary.label != "severity":
            alerts = [self.vocabulary.without(a) for a in alerts]
        known = [
            a if a.sibling else replace(a, sibling=self.siblings.position(a.alertname, a.expr))
            for a in alerts
        ]
        return features.matrix(known)

    def probabilities(self, alerts: Sequence[AlertText]) -> np.ndarray:
        """Class probabilities (columns in ``classes`` order), the team's shift applied."""
        return self._probabilities(self._vectors(alerts))

    def predict(self, alerts: Sequence[AlertText], explain: bool = True) -> list[Verdict]:
        if not alerts:
            return []
        vectors = self._vectors(alerts)
        probabilities = self._probabilities(vectors)
        chosen = [self._decide(row) for row in probabilities]
        labels = [self.classes[i] for i in chosen]
        reasons = self.explainer().reasons(vectors, labels) if explain else [()] * len(labels)
        return [
            Verdict(
                severity=label,
                confidence=float(row[best]),
                probabilities={c: float(p) for c, p in zip(self.classes, row, strict=True)},
                reasons=why,
            )
            for label, best, row, why in zip(labels, chosen, probabilities, reasons, strict=True)
        ]

    def explainer(self) -> Explainer:
        if self._explainer is None:
            vectors = self.pipeline.named_steps["features"]
            regression = (
                self.pipeline.named_steps["classifier"].calibrated_classifiers_[0].estimator
            )
            self._explainer = Explainer(
                regression.coef_, self.classes, list(vectors.get_feature_names_out())
            )
        return self._explainer

    def _vectors(self, alerts: Sequence[AlertText]) -> sparse.csr_matrix:
        return sparse.csr_matrix(self.pipeline.named_steps["features"].transform(self.rows(alerts)))

    def _probabilities(self, vectors: sparse.csr_matrix) -> np.ndarray:
        probabilities = self.pipeline.named_steps["classifier"].predict_proba(vectors)
        if "critical" in self.classes:
            probabilities = shift_critical(
                probabilities, self.classes.index("critical"), self.critical_shift
            )
        return probabilities

    def _decide(self, row: np.ndarray) -> int:
        """Critical from one half on; else the likelier of the other classes."""
        if "critical" not in self.classes:
            return int(np.argmax(row))
        critical = self.classes.index("critical")
        if row[critical] >= 0.5:
            return critical
        others = row.copy()
        others[critical] = -1.0
        return int(np.argmax(others))


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
        return confusion_matrix(truth, predicted, labels=labels).tolist()


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
