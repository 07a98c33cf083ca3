"""The severity classifier as triage runs it: a fitted scikit-learn pipeline over an alert's text.

How the pipeline is built and fitted is ``training.train``; this module only
predicts, and is all the triage worker loads besides the model file.

An alert pages (``critical``) when its probability of being critical, after
the team's paging-rate adjustment (``critical_shift``, see
``training.adapt``), is at least one half; otherwise it gets the likelier of
the other classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.pipeline import Pipeline

from services.triage.scoring import features
from services.triage.scoring.explain import Explainer
from services.triage.scoring.features import AlertText
from services.triage.scoring.siblings import SiblingIndex
from services.triage.scoring.vocabulary import Vocabulary


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


def shift_critical(probabilities: np.ndarray, column: int, shift: float) -> np.ndarray:
    """Multiply the odds of ``column`` by e**shift, keeping the other classes' proportions."""
    if shift == 0.0:
        return probabilities
    p = np.clip(probabilities[:, column], 1e-12, 1 - 1e-12)
    shifted = p * np.exp(shift) / (p * np.exp(shift) + 1 - p)
    out: np.ndarray = probabilities * ((1 - shifted) / (1 - p))[:, None]
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
        probabilities: np.ndarray = self.pipeline.named_steps["classifier"].predict_proba(vectors)
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
