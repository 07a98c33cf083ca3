"""The severity classifier as triage runs it: a fitted scikit-learn pipeline over an alert's text.

How the pipeline is built and fitted is ``training.train``; this module only
predicts, and is all the triage worker loads besides the model file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from services.triage.scoring import features
from services.triage.scoring.features import AlertText


@dataclass(frozen=True)
class Verdict:
    severity: str
    confidence: float
    probabilities: dict[str, float]

    @property
    def risk(self) -> float:
        """Expected urgency in [0, 1]: critical counts 1, warning 0.5, info 0."""
        p = self.probabilities
        return p.get("critical", 0.0) + 0.5 * p.get("warning", 0.0)


class SeverityModel:
    """A fitted pipeline plus what it was trained on; ``predict`` is thread-safe."""

    def __init__(self, pipeline: Pipeline, metadata: dict[str, Any]):
        self.pipeline = pipeline
        self.metadata = metadata
        self.classes: list[str] = [str(c) for c in pipeline.classes_]

    def predict(self, alerts: Sequence[AlertText]) -> list[Verdict]:
        if not alerts:
            return []
        probabilities = self.pipeline.predict_proba(features.matrix(alerts))
        verdicts = []
        for row in probabilities:
            best = int(np.argmax(row))
            verdicts.append(
                Verdict(
                    severity=self.classes[best],
                    confidence=float(row[best]),
                    probabilities={c: float(p) for c, p in zip(self.classes, row, strict=True)},
                )
            )
        return verdicts
