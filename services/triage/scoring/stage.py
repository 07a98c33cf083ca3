"""The scoring stage of the triage chain: rules, classifier, context, per changed incident.

All alerts of a batch that need a classifier verdict go to the model in one
``predict_proba`` call, run in a thread so the event loop stays free.
Verdicts are remembered per alerting rule (see ``rule_key``), so repeats,
re-scorings and new instances of known rules, which make up most of
triage's traffic, cost a dictionary lookup.

A busy incident is scored again at every revision, and all but the alerts
that joined or changed since were scored the time before: the member scores
of the incidents scored lately are kept (``ScoredMembers``), so a revision
scores what changed and only assesses the list as a whole; an incident
grown past ``max_alerts`` lists the same members, and their ranking is
kept too, so its revision assesses only what its counts and times add.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from operator import is_
from typing import cast

from services.triage.metrics import (
    CLASSIFIER_CACHE,
    CLASSIFIER_INFERENCE_SECONDS,
    SCORING_DECISIONS,
)
from services.triage.scoring.classifier import SeverityModel, Verdict
from services.triage.scoring.combine import Assessment, MemberScore, Ranking, assess, rank
from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import PRIORITIES, RANK
from services.triage.scoring.reloading import ModelHolder
from services.triage.scoring.rules import evaluate
from services.triage.scoring.settings import ScoringSettings
from services.triage.scoring.vocabulary import Vocabulary
from services.triage.stages import TriageContext
from services.triage.state import IncidentState
from shared.cache import BoundedCache
from shared.messages import IncidentAlert

DEFAULT_VOCABULARY = Vocabulary()
Unscored = list[tuple[str, bytes, IncidentAlert, Hashable]]
"""The members whose scores are not kept: fingerprint, member as listed and
as read back, ``rule_key``."""

# Incidents whose member scores are kept: about as many as change at once in
# a storm of many growing incidents; each holds up to ``max_alerts`` scores.
SCORED_INCIDENTS = 128


def rule_key(alert: IncidentAlert) -> Hashable:
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
    """Verdicts of one model generation, least recently used out first."""

    def __init__(self, size: int):
        self.generation = -1
        self.entries: BoundedCache[Hashable, Verdict] = BoundedCache(size)

    def for_generation(self, generation: int) -> BoundedCache[Hashable, Verdict]:
        if generation != self.generation:
            self.entries.clear()
            self.generation = generation
        return self.entries


class ScoredMembers:
    """One incident's member scores by fingerprint, each with the member it
    was scored from, valid while the incident lists that same object and the
    model and vocabulary they were scored with stay; and, when every member's
    score is kept, their ranking, valid while the incident lists the same
    members (``listing``)."""

    __slots__ = ("generation", "listing", "ranking", "scores", "vocabulary")

    def __init__(self, generation: int, vocabulary: Vocabulary):
        self.generation = generation
        self.vocabulary = vocabulary
        self.scores: dict[str, tuple[bytes, MemberScore]] = {}
        self.listing: tuple[bytes, ...] = ()
        self.ranking: Ranking | None = None

    def ranked(self, listing: tuple[bytes, ...]) -> Ranking | None:
        """The ranking kept, if ``listing`` is the very members it was made of."""
        if self.ranking is None or len(listing) != len(self.listing):
            return None
        return self.ranking if all(map(is_, listing, self.listing)) else None


class ScoringStage:
    """Scores every incident the batch changed.

    One incident's failure is its own: a member whose features cannot be read
    is scored without the classifier, and an incident that cannot be assessed
    keeps the severity it had, says so in its explanation, and is reported
    (``TriageContext.failed``); the other incidents are scored as usual.
    """

    name = "score"

    def __init__(self, settings: ScoringSettings):
        self.settings = settings
        self.rules = settings.compiled_rules
        self.models = (
            ModelHolder(
                settings.model,
                settings.model_cache_dir,
                settings.reload_interval,
                settings.adapt_rule_files,
            )
            if settings.classifier
            else None
        )
        self.cache = VerdictCache(settings.cache_size)
        self.scored: BoundedCache[str, ScoredMembers] = BoundedCache(SCORED_INCIDENTS)

    async def load_model(self) -> None:
        if self.models is not None:
            await self.models.current()

    async def process(self, ctx: TriageContext) -> None:
        if not ctx.changed:
            return
        model = await self.models.current() if self.models else None
        generation = self.models.generation if self.models else 0
        # The team's words for severity, when the model was adapted to its rule files.
        vocabulary = model.vocabulary if model is not None else DEFAULT_VOCABULARY
        keyed: list[tuple[IncidentState, ScoredMembers, list[MemberScore | None], Unscored]] = []
        # Incidents that list the same members as when last scored (grown past
        # ``max_alerts``, or only their counts or times changed): ranked already.
        ranked: list[tuple[IncidentState, ScoredMembers, Ranking]] = []
        for incident in ctx.changed.values():
            known = self.scored.get(incident.id)
            if known is None or (known.generation, known.vocabulary) != (generation, vocabulary):
                known = ScoredMembers(generation, vocabulary)
            ranking = known.ranked(tuple(incident.members.values()))
            if ranking is not None:
                ranked.append((incident, known, ranking))
                continue
            held = known.scores
            scores = [
                kept[1] if (kept := held.get(fp)) is not None and kept[0] is member else None
                for fp, member in incident.members.items()
            ]
            unscored: Unscored = []
            try:
                for score, (fp, member) in zip(scores, incident.members.items(), strict=True):
                    if score is None:
                        alert = ctx.member(fp, member)
                        unscored.append((fp, member, alert, rule_key(alert)))
            except Exception as exc:
                self._failed(ctx, incident, exc)
                continue
            keyed.append((incident, known, scores, unscored))
        verdicts = await self._verdicts(
            ctx, model, [(i, [(a, k) for _, _, a, k in u]) for i, _, _, u in keyed]
        )
        problem = self.models.problem if self.models and self.models.model is None else None
        use_label = self.settings.use_severity_label
        for incident, known, scores, unscored in keyed:
            missing = iter(unscored)
            complete = True
            try:
                for index, score in enumerate(scores):
                    if score is not None:
                        continue
                    fp, member, alert, key = next(missing)
                    score = scores[index] = MemberScore(
                        alert,
                        evaluate(self.rules, alert.labels, alert.annotations),
                        vocabulary.severity(alert.labels) if use_label else None,
                        verdicts.get(key),
                        vocabulary.label,
                    )
                    # One the model gave no verdict for asks it again next time.
                    if score.verdict is not None or model is None:
                        known.scores[fp] = (member, score)
                    else:
                        known.scores.pop(fp, None)
                        complete = False
                listed = cast(list[MemberScore], scores)
                ranking = rank(listed)
                result = assess(incident, ranking, problem)
            except Exception as exc:
                self._failed(ctx, incident, exc)
                continue
            if len(known.scores) > len(listed):  # members left the list
                known.scores = {
                    fp: known.scores[fp] for fp in incident.members if fp in known.scores
                }
            known.listing = tuple(incident.members.values())
            known.ranking = ranking if complete else None
            self._scored(ctx, incident, known, result)
        for incident, known, ranking in ranked:
            try:
                result = assess(incident, ranking, problem)
            except Exception as exc:
                self._failed(ctx, incident, exc)
                continue
            self._scored(ctx, incident, known, result)

    def _scored(
        self, ctx: TriageContext, incident: IncidentState, known: ScoredMembers, result: Assessment
    ) -> None:
        self.scored.put(incident.id, known)
        if _raised(incident, result.severity, result.priority):
            ctx.urgent.add(incident.id)  # responders must hear of it at once
        incident.severity = result.severity
        incident.priority = result.priority
        incident.score = result.score
        incident.severity_reason = result.explanation
        incident.scoring_labels = result.labels
        SCORING_DECISIONS.labels(result.source).inc()

    @staticmethod
    def _failed(ctx: TriageContext, incident: IncidentState, error: Exception) -> None:
        note = f"severity not re-scored ({type(error).__name__}); kept from before"
        if note not in incident.severity_reason:
            incident.severity_reason = [*incident.severity_reason, note]
        ctx.failed(incident, error)

    async def _verdicts(
        self,
        ctx: TriageContext,
        model: SeverityModel | None,
        keyed: list[tuple[IncidentState, list[tuple[IncidentAlert, Hashable]]]],
    ) -> dict[Hashable, Verdict]:
        if model is None:
            return {}
        cache = self.cache.for_generation(self.models.generation if self.models else 0)
        found: dict[Hashable, Verdict] = {}
        missing: dict[Hashable, AlertText] = {}
        for incident, members in keyed:
            for alert, key in members:
                if key in found or key in missing:
                    continue
                verdict = cache.get(key)
                if verdict is not None:
                    found[key] = verdict
                    continue
                try:
                    missing[key] = AlertText.of(alert)
                except Exception as exc:
                    # Without features this member has no classifier verdict;
                    # rules, its label or the default still give it a severity.
                    ctx.failed(incident, exc)
        CLASSIFIER_CACHE.labels("hit").inc(len(found))
        CLASSIFIER_CACHE.labels("miss").inc(len(missing))
        if missing:
            texts = list(missing.values())
            try:
                fresh: list[Verdict | Exception] = list(
                    await asyncio.to_thread(_predict, model, texts)
                )
            except Exception:
                # One alert the model cannot take must not cost the others
                # their verdicts: find it by asking alert by alert.
                fresh = await asyncio.to_thread(_predict_each, model, texts)
            for key, outcome in zip(missing, fresh, strict=True):
                if isinstance(outcome, Exception):
                    for incident, members in keyed:
                        if any(k == key for _, k in members):
                            ctx.failed(incident, outcome)
                    continue
                cache.put(key, outcome)
                found[key] = outcome
        return found


def _raised(incident: IncidentState, severity: str, priority: str) -> bool:
    """More urgent than the incident was: a higher severity or priority."""
    return RANK.get(severity, 0) > RANK.get(incident.severity, 0) or _order(priority) < _order(
        incident.priority
    )


def _order(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


def _predict_each(model: SeverityModel, alerts: list[AlertText]) -> list[Verdict | Exception]:
    verdicts: list[Verdict | Exception] = []
    for alert in alerts:
        try:
            verdicts += _predict(model, [alert])
        except Exception as exc:
            verdicts.append(exc)
    return verdicts


def _predict(model: SeverityModel, alerts: list[AlertText]) -> list[Verdict]:
    started = time.perf_counter()
    try:
        return model.predict(alerts)
    finally:
        CLASSIFIER_INFERENCE_SECONDS.observe(time.perf_counter() - started)
