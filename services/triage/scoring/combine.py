"""From member verdicts and incident context to severity, priority, score and explanation.

Each firing alert gets a severity from, in order: a rule that set one, its
own ``severity`` label, the classifier, else ``warning``. The incident is as
severe as its most severe alert, which is the lead alert. The score starts
from that severity and adds what else is known:

* the classifier's second opinion on the lead alert (up to +/-10, or the
  whole base when the classifier decided),
* how many alerts fire (+5 for 2, +10 from 4),
* how many services they span (+5 per service beyond the first, up to +10),
* how long the incident has fired (+2 from 15m, +4 from 1h, +6 from 4h),
* flapping (-10: an alert that keeps resolving by itself is less urgent).

Priority follows the score (P1 from 80, P2 from 60, P3 from 40, P4 from 20)
unless a rule fixed one, in which case the rule decides alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import NamedTuple

from services.triage.scoring.classifier import Verdict
from services.triage.scoring.levels import RANK, priority_for, score_band
from services.triage.scoring.rules import RuleOutcome
from services.triage.state import IncidentState
from shared.messages import AlertStatus, IncidentAlert

BASE_SCORE = {"critical": 85, "warning": 50, "info": 15}
RISK = {"critical": 1.0, "warning": 0.5, "info": 0.0}
SECOND_OPINION_WEIGHT = 10
FLAPPING_PENALTY = -10
DEFAULT_SEVERITY = "warning"
# Labels that name the service an alert is about, most specific first.
SERVICE_LABELS = ("service", "job", "app")
DURATION_STEPS = ((timedelta(hours=4), 6), (timedelta(hours=1), 4), (timedelta(minutes=15), 2))


# Among members of equal severity, the better-founded verdict leads.
_DECIDED = {"rule": 3, "label": 2, "classifier": 1, "default": 0}


class MemberScore:
    """What is known about one alert of the incident, and the severity it has.

    Severity and its source, and what else ``assess`` asks of every member,
    are worked out once here: assessing an incident sorts and searches its
    hundred listed members several times over, at every revision, and a
    member's score is kept while it stays listed (``stage.ScoredMembers``).
    """

    __slots__ = (
        "firing",
        "label",
        "label_name",
        "label_value",
        "name",
        "noise",
        "ruled",
        "rules",
        "service",
        "severity",
        "sort_key",
        "source",
        "starts_at",
        "verdict",
    )

    def __init__(
        self,
        alert: IncidentAlert,
        rules: RuleOutcome,
        label: str | None,  # the severity label, normalized; None if absent or not used
        verdict: Verdict | None,
        label_name: str = "severity",  # the label the team states severity in
    ):
        self.rules = rules
        self.label = label
        self.verdict = verdict
        by_rule = rules.get("severity")
        if by_rule:
            self.severity, self.source = by_rule, "rule"
        elif label:
            self.severity, self.source = label, "label"
        elif verdict is not None:
            self.severity, self.source = verdict.severity, "classifier"
        else:
            self.severity, self.source = DEFAULT_SEVERITY, "default"
        self.sort_key = (
            RANK[self.severity],
            _DECIDED[self.source],
            verdict.risk if verdict is not None else 0.0,
        )
        self.firing = alert.status == AlertStatus.FIRING
        self.ruled = bool(rules.values)  # most alerts match no rule
        self.noise = rules.noise
        labels = alert.labels
        self.service = service_of(labels)
        self.starts_at = alert.starts_at
        # What explanations show of it; the member itself is not kept.
        self.name = labels.get("alertname") or alert.fingerprint
        self.label_name = label_name if label_name in labels else "severity"
        self.label_value = labels.get(self.label_name, "")


@dataclass
class Assessment:
    severity: str
    priority: str
    score: int
    explanation: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    source: str = "default"


@dataclass(frozen=True)
class Context:
    alerts: int
    services: int
    fired_for: timedelta
    flapping: bool


def service_of(labels: Mapping[str, str]) -> str:
    """The service an alert is about ("" if its labels do not say)."""
    for name in SERVICE_LABELS:
        value = labels.get(name)
        if value:
            return value
    return ""


class Ranking(NamedTuple):
    """What ``assess`` reads of the listed members alone: the same while they
    are (an incident beyond ``max_alerts`` grows without changing them)."""

    listed_firing: int
    firing: int
    noise: list[MemberScore]
    scored: list[MemberScore]  # firing (else all), noise left out, most severe first
    ruled: list[MemberScore]
    services: int
    began: datetime | None  # the earliest start among ``scored``


def rank(members: Sequence[MemberScore]) -> Ranking:
    listed_firing = [m for m in members if m.firing]
    firing = listed_firing or list(members)
    noise = [m for m in firing if m.noise]
    scored = sorted(
        (m for m in firing if not m.noise) if noise else firing,
        key=attrgetter("sort_key"),
        reverse=True,
    )
    # Only members a rule matched can set priority, team or runbook.
    ruled = [m for m in scored if m.ruled]
    starts = [m.starts_at for m in scored if m.starts_at is not None]
    return Ranking(
        listed_firing=len(listed_firing),
        firing=len(firing),
        noise=noise,
        scored=scored,
        ruled=ruled,
        services=len({m.service for m in scored} - {""}),
        began=min(starts, default=None),
    )


def context_of(incident: IncidentState, ranking: Ranking) -> Context:
    began = incident.opened_at if ranking.began is None else min(ranking.began, incident.opened_at)
    # Firing members beyond the ``triage.max_alerts`` an incident lists count too.
    unlisted = max(0, incident.firing - ranking.listed_firing)
    return Context(
        alerts=len(ranking.scored) + unlisted,
        services=ranking.services,
        fired_for=max(timedelta(0), incident.updated_at - began),
        flapping=incident.flapping,
    )


def _context_points(context: Context) -> list[tuple[int, str]]:
    points = []
    if context.alerts >= 2:
        points.append((min(10, round(5 * math.log2(context.alerts))), f"{context.alerts} alerts"))
    if context.services >= 2:
        points.append((min(10, 5 * (context.services - 1)), f"{context.services} services"))
    for threshold, value in DURATION_STEPS:
        if context.fired_for >= threshold:
            points.append((value, f"firing {_duration(context.fired_for)}"))
            break
    if context.flapping:
        points.append((FLAPPING_PENALTY, "flapping"))
    return points


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _signed(value: int) -> str:
    return f"+{value}" if value >= 0 else str(value)


def _severity_line(lead: MemberScore) -> str:
    match lead.source:
        case "rule":
            rule = lead.rules.decided_by["severity"]
            return f"severity {lead.severity}: rule {rule!r} on {lead.name}"
        case "label":
            shown = f"{lead.label_name}={lead.label_value!r}"
            return f"severity {lead.severity}: label {shown} of {lead.name}"
        case "classifier":
            assert lead.verdict is not None
            return (
                f"severity {lead.severity}: classifier on {lead.name} "
                f"(no rule or label decided), confidence {lead.verdict.confidence:.2f}"
                f"{_moved_by(lead.verdict)}"
            )
    return f"severity {DEFAULT_SEVERITY}: default, nothing else decided for {lead.name}"


def _classifier_points(lead: MemberScore) -> tuple[int, str | None]:
    verdict = lead.verdict
    if verdict is None:
        return 0, None
    if lead.source == "classifier":
        # The classifier decided: its expected urgency sets the base.
        return 0, None
    points = round(SECOND_OPINION_WEIGHT * (verdict.risk - RISK[lead.severity]))
    stance = "agrees" if verdict.severity == lead.severity else "disagrees"
    line = (
        f"classifier: {verdict.severity} (confidence {verdict.confidence:.2f}) on {lead.name}, "
        f"{stance}{_moved_by(verdict)}"
    )
    return points, line


def _moved_by(verdict: Verdict) -> str:
    """What moved the classifier most, for a person reading the explanation."""
    return f"; moved most by {', '.join(verdict.reasons)}" if verdict.reasons else ""


def _first(members: Sequence[MemberScore], name: str) -> tuple[str, str] | None:
    """The first value a rule set for ``name`` among members, most severe first."""
    for member in members:
        value = member.rules.get(name)
        if value:
            return value, member.rules.decided_by[name]
    return None


def assess(
    incident: IncidentState, ranking: Ranking, classifier_problem: str | None = None
) -> Assessment:
    """The incident's severity, priority and score from its members' (``rank``)."""
    noise, scored, ruled = ranking.noise, ranking.scored, ranking.ruled
    if not scored:
        rule = noise[0].rules.decided_by["noise"]
        return Assessment(
            severity="info",
            priority="P5",
            score=0,
            explanation=[f"noise: all {len(noise)} alerts marked noise by rule {rule!r}"],
            labels={"noise": "true"},
            source="noise",
        )
    lead = scored[0]
    severity = lead.severity
    lines = [_severity_line(lead)]
    if lead.source == "classifier" and lead.verdict is not None:
        base = round(BASE_SCORE["info"] + 70 * lead.verdict.risk)
    else:
        base = BASE_SCORE[severity]
    terms = [f"base {base} ({severity} by {lead.source})"]
    opinion, opinion_line = _classifier_points(lead)
    if opinion_line:
        lines.append(opinion_line)
        if opinion:
            terms.append(f"{_signed(opinion)} classifier")
    elif lead.verdict is None and classifier_problem:
        lines.append(f"classifier: unavailable ({classifier_problem})")
    total = base + opinion
    context = context_of(incident, ranking)
    for points, reason in _context_points(context):
        total += points
        terms.append(f"{_signed(points)} {reason}")
    score = max(0, min(100, total))
    lines.append(f"score {score} = {' '.join(terms)}")

    fixed = [(p, m) for m in ruled if (p := m.rules.get("priority"))]
    from_score = priority_for(score)
    if fixed:
        rule_priority, by = min(fixed, key=lambda pair: pair[0])
        everything_fixed = len(fixed) == len(scored)
        priority = rule_priority if everything_fixed else min(rule_priority, from_score)
        if priority == rule_priority:
            low, high = score_band(priority)
            score = max(low, min(high, score))
            lines.append(
                f"priority {priority}: rule {by.rules.decided_by['priority']!r} on {by.name}"
            )
        else:
            lines.append(f"priority {priority} from the score")
    else:
        priority = from_score
        lines.append(f"priority {priority} from the score")
    if noise:
        rule = noise[0].rules.decided_by["noise"]
        lines.append(
            f"noise: {len(noise)} of {ranking.firing} alerts marked noise by rule {rule!r}"
        )

    labels = {}
    for name, label in (("team", "team"), ("runbook", "runbook_url")):
        found = _first(ruled, name)
        if found:
            labels[label] = found[0]
            lines.append(f"{name} {found[0]}: rule {found[1]!r}")
    return Assessment(severity, priority, score, lines, labels, lead.source)
