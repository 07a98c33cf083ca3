"""Adapting the severity model to a team from the team's own rule files.

Severity conventions differ by team: which label says how urgent a rule is
and in what words (``level: emergency``, ``severity: blocker``), how much
the team pages, and how its rules are worded. The team's rule files say all
three, labelled or not:

* **vocabulary**: the label that carries severity and what each of its
  values means. Known spellings map directly; a value Corral does not know
  is placed by how urgent the model finds the rules that carry it, next to
  the known level whose rules look most alike.
* **paging rate**: the share of the team's rules that page (``critical``),
  counted on its labelled rules. The model's probability of ``critical`` is
  then shifted (a prior adjustment: the odds multiplied by one factor) so
  that the team's rules the model has to judge, its unlabelled ones, page at
  that rate. With no
  labelled rules, the rate can be estimated by EM over the unlabelled ones
  (Saerens, Latinne and Decaestecker, 2002); the benchmark shows that
  estimate is poor across organisations, so it is only used when asked.
* **wording**: the labelled rules join the training data, weighted above the
  catalogue, and every rule joins the sibling index (``siblings``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from services.triage.scoring.classifier import SeverityModel
from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import SEVERITIES, normalize_severity
from services.triage.scoring.vocabulary import SEVERITY_LABELS, Vocabulary
from services.triage.training.train import Example, train

TEAM_WEIGHT = 10.0
# The paging shift is set on the team's unlabelled rules, when there are this many: on
# the labelled ones the model's fit is too sure of itself to say where the line lies.
MIN_SCORED = 10
# Where a level sits on the model's urgency scale when the team uses no known word for it.
DEFAULT_URGENCY = {"critical": 0.8, "warning": 0.5, "info": 0.2}
ANCHOR = 5  # how many rules' worth the default centre counts for

PagingRate = float | Literal["em"] | None


@dataclass(frozen=True)
class Adaptation:
    vocabulary: Vocabulary
    labelled: list[Example]
    unlabelled: list[AlertText]


def urgency(model: SeverityModel, alerts: Sequence[AlertText]) -> np.ndarray:
    """Expected urgency per alert: P(critical) + 0.5 P(warning)."""
    p = model.probabilities(alerts)
    weights = np.array([{"critical": 1.0, "warning": 0.5}.get(c, 0.0) for c in model.classes])
    return np.asarray(p @ weights)


def learn_vocabulary(
    team: Sequence[AlertText], base: Callable[[], SeverityModel] | None = None
) -> Vocabulary:
    """The team's severity label and the meaning of the values Corral does not know.

    ``base`` gives a model that has not seen the team; it is only asked for
    when some value is unknown.
    """
    carried = Counter(name for alert in team for name in alert.labels if name in SEVERITY_LABELS)
    if not carried:
        return Vocabulary()
    label = max(carried, key=lambda name: (carried[name], -SEVERITY_LABELS.index(name)))
    stated = [
        (alert, alert.labels[label].strip().lower()) for alert in team if label in alert.labels
    ]
    unknown = sorted({value for _, value in stated if value and normalize_severity(value) is None})
    if not unknown or base is None:
        return Vocabulary(label)
    scores = urgency(base(), [alert for alert, _ in stated])
    by_value: dict[str, list[float]] = {}
    for (_, value), score in zip(stated, scores, strict=True):
        by_value.setdefault(value, []).append(float(score))
    known: dict[str, list[float]] = {level: [] for level in SEVERITIES}
    for value, values in by_value.items():
        level = normalize_severity(value)
        if level is not None:
            known[level].extend(values)
    # Each level's centre on the urgency scale: the team's own rules of that level,
    # drawn towards the default so that one odd rule does not move a level.
    centre = {
        level: (sum(known[level]) + ANCHOR * DEFAULT_URGENCY[level]) / (len(known[level]) + ANCHOR)
        for level in SEVERITIES
    }
    learned = {
        value: min(SEVERITIES, key=lambda level: abs(np.mean(by_value[value]) - centre[level]))
        for value in unknown
    }
    return Vocabulary(label, learned)


def split(
    team: Sequence[AlertText], vocabulary: Vocabulary, weight: float = TEAM_WEIGHT
) -> Adaptation:
    """The team's rules that state a severity (as training rows) and those that do not.

    The label that states severity is the answer, not evidence: it is removed.
    """
    labelled, unlabelled = [], []
    for stated in team:
        level = vocabulary.severity(stated.labels)
        alert = vocabulary.without(stated)
        if level is None:
            unlabelled.append(alert)
        else:
            labelled.append(Example(alert, level, weight, origin="team"))
    return Adaptation(vocabulary, labelled, unlabelled)


def em_prior(probabilities: np.ndarray, trained: np.ndarray, steps: int = 200) -> np.ndarray:
    """Class priors of unlabelled data by EM over a model's posteriors (Saerens et al.)."""
    prior: np.ndarray = trained.copy()
    for _ in range(steps):
        adjusted = probabilities * (prior / trained)
        adjusted /= adjusted.sum(axis=1, keepdims=True)
        updated: np.ndarray = adjusted.mean(axis=0)
        if np.abs(updated - prior).max() < 1e-7:
            return updated
        prior = updated
    return prior


def em_paging_rate(model: SeverityModel, unlabelled: Sequence[AlertText]) -> float:
    """The share of ``unlabelled`` that pages, by EM; the model was trained class-balanced."""
    uniform = np.full(len(model.classes), 1.0 / len(model.classes))
    prior = em_prior(model.probabilities(unlabelled), uniform)
    return float(prior[model.classes.index("critical")])


def paging_shift(p_critical: np.ndarray, rate: float) -> float:
    """The log-odds shift after which a share ``rate`` of these alerts reaches one half."""
    rate = min(max(rate, 0.01), 0.99)
    threshold = float(np.quantile(p_critical, 1.0 - rate))
    threshold = min(max(threshold, 0.02), 0.98)
    return -math.log(threshold / (1.0 - threshold))


def adapt(
    base: Sequence[Example],
    team: Sequence[AlertText],
    *,
    weight: float = TEAM_WEIGHT,
    paging_rate: PagingRate = None,
    sources: Sequence[str] = (),
    cross_validate: bool = True,
    base_model: Callable[[], SeverityModel] | None = None,
) -> SeverityModel:
    """A model trained on ``base`` plus the team's labelled rules, tuned to the team.

    ``team`` are the team's rules with their labels as written and their
    sibling positions within the team's rule set. ``paging_rate``: None to
    count it on the labelled rules (no shift without any), a share to impose
    one, "em" to estimate it from the unlabelled rules. ``base_model`` gives
    a model that has not seen the team, for placing unknown severity words;
    without it one is trained on ``base`` when needed.
    """
    untrained = base_model or (lambda: train(base, cross_validate=False))
    vocabulary = learn_vocabulary(team, untrained)
    rules = split(team, vocabulary, weight)
    model = train(
        [*base, *rules.labelled],
        sources=sources,
        cross_validate=cross_validate,
        extra_rules=rules.unlabelled,
    )
    rate, source = _paging_rate(model, rules, paging_rate)
    shift = 0.0
    if rate is not None and "critical" in model.classes and len(rules.unlabelled) >= MIN_SCORED:
        critical = model.probabilities(rules.unlabelled)[:, model.classes.index("critical")]
        shift = paging_shift(critical, rate)
    adaptation: dict[str, Any] = {
        "team_rules": len(team),
        "labelled": len(rules.labelled),
        "weight": weight,
        "vocabulary": vocabulary.to_json(),
        "paging_rate": None if rate is None else round(rate, 4),
        "paging_rate_from": source,
        "critical_shift": round(shift, 6),
    }
    model.metadata["adaptation"] = adaptation
    return SeverityModel(model.pipeline, model.metadata)


def _paging_rate(
    model: SeverityModel, rules: Adaptation, asked: PagingRate
) -> tuple[float | None, str | None]:
    if isinstance(asked, float):
        return asked, "given"
    if asked == "em":
        if not rules.unlabelled or "critical" not in model.classes:
            return None, None
        return em_paging_rate(model, rules.unlabelled), "em"
    if not rules.labelled:
        return None, None
    pages = sum(1 for e in rules.labelled if e.severity == "critical")
    return (pages + 1) / (len(rules.labelled) + 2), "labelled"
