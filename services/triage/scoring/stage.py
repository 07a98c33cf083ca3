"""The scoring stage of the triage chain: rules, classifier, context, per changed incident.

All alerts of a batch that need a classifier verdict go to the model in one
``predict_proba`` call, run in a thread so the event loop stays free.
Verdicts are remembered per alerting rule (see ``alert_key``), so repeats,
re-scorings and new instances of known rules, which make up most of
triage's traffic, cost a dictionary lookup.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Hashable

from services.triage.metrics import (
    CLASSIFIER_CACHE,
    CLASSIFIER_INFERENCE_SECONDS,
    SCORING_DECISIONS,
)
from services.triage.scoring.classifier import SeverityModel, Verdict
from services.triage.scoring.combine import MemberScore, assess
from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import normalize_severity
from services.triage.scoring.models import ModelHolder
from services.triage.scoring.rules import evaluate
from services.triage.scoring.settings import ScoringSettings
from services.triage.stages import TriageContext
from services.triage.state import IncidentState
from shared.messages import IncidentAlert


def alert_key(alert: IncidentAlert) -> Hashable:
    """What a verdict is cached by: the alerting rule, not the instance it fired for.

    Severity belongs to the rule (its name, its PromQL in the generator URL,
    the labels it sets); the pod or node it fired on changes label values and
    rendered text but not how urgent it is. Keying by rule lets one verdict
    serve a storm of thousands of new pods instead of one model call each.
    """
    labels = alert.labels
    return (
        labels.get("alertname", ""),
        alert.generator_url,
        labels.get("severity", ""),
        tuple(sorted(labels)),
    )


class VerdictCache:
    """Least recently used verdicts of one model generation."""

    def __init__(self, size: int):
        self.size = size
        self.generation = -1
        self.entries: OrderedDict[Hashable, Verdict] = OrderedDict()

    def for_generation(self, generation: int) -> VerdictCache:
        if generation != self.generation:
            self.entries.clear()
            self.generation = generation
        return self

    def get(self, key: Hashable) -> Verdict | None:
        verdict = self.entries.get(key)
        if verdict is not None:
            self.entries.move_to_end(key)
        return verdict

    def put(self, key: Hashable, verdict: Verdict) -> None:
        if self.size == 0:
            return
        self.entries[key] = verdict
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


class ScoringStage:
    def __init__(self, settings: ScoringSettings):
        self.settings = settings
        self.rules = settings.compiled_rules
        self.models = (
            ModelHolder(settings.model, settings.model_cache_dir, settings.reload_interval)
            if settings.classifier
            else None
        )
        self.cache = VerdictCache(settings.cache_size)

    async def load_model(self) -> None:
        if self.models is not None:
            await self.models.current()

    async def process(self, ctx: TriageContext) -> None:
        if not ctx.changed:
            return
        keyed = [
            (incident, [(alert, alert_key(alert)) for alert in incident.members.values()])
            for incident in ctx.changed.values()
        ]
        verdicts = await self._verdicts(keyed)
        problem = self.models.problem if self.models and self.models.model is None else None
        use_label = self.settings.use_severity_label
        for incident, members in keyed:
            scores = [
                MemberScore(
                    alert,
                    evaluate(self.rules, alert.labels, alert.annotations),
                    normalize_severity(alert.labels.get("severity")) if use_label else None,
                    verdicts.get(key),
                )
                for alert, key in members
            ]
            result = assess(incident, scores, problem)
            incident.severity = result.severity
            incident.priority = result.priority
            incident.score = result.score
            incident.severity_reason = result.explanation
            incident.scoring_labels = result.labels
            SCORING_DECISIONS.labels(result.source).inc()

    async def _verdicts(
        self, keyed: list[tuple[IncidentState, list[tuple[IncidentAlert, Hashable]]]]
    ) -> dict[Hashable, Verdict]:
        model = await self.models.current() if self.models else None
        if model is None:
            return {}
        cache = self.cache.for_generation(self.models.generation if self.models else 0)
        found: dict[Hashable, Verdict] = {}
        missing: dict[Hashable, AlertText] = {}
        for _, members in keyed:
            for alert, key in members:
                if key in found or key in missing:
                    continue
                verdict = cache.get(key)
                if verdict is None:
                    missing[key] = AlertText.of(alert)
                else:
                    found[key] = verdict
        CLASSIFIER_CACHE.labels("hit").inc(len(found))
        CLASSIFIER_CACHE.labels("miss").inc(len(missing))
        if missing:
            fresh = await asyncio.to_thread(_predict, model, list(missing.values()))
            for key, verdict in zip(missing, fresh, strict=True):
                cache.put(key, verdict)
                found[key] = verdict
        return found


def _predict(model: SeverityModel, alerts: list[AlertText]) -> list[Verdict]:
    started = time.perf_counter()
    try:
        return model.predict(alerts)
    finally:
        CLASSIFIER_INFERENCE_SECONDS.observe(time.perf_counter() - started)
