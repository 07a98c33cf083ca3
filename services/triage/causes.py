"""Cause → symptom: a symptom joins the incident of its cause, which is named
as the probable root.

Rules have the shape of Alertmanager's ``inhibit_rules``: where Alertmanager
would mute a target alert while a source alert with ``equal`` labels fires,
Corral puts the target into the source's incident. Either may arrive first:
a cause that fires after its symptoms gathers their incidents into one, and
takes its symptoms out of incidents they were grouped into with unrelated
alerts while it was not firing yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.triage.config import CauseRule, compile_matchers
from services.triage.membership import Membership, open_candidates
from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import IncidentState, IndexKey, describe, describe_listed
from shared.codec import read_member
from shared.durations import format_duration
from shared.matchers import Matcher, matches_all

CAUSE = "c"
SYMPTOM = "t"


def _is_rule_key(key: IndexKey) -> bool:
    return key.kind[:1] in (CAUSE, SYMPTOM)


@dataclass(frozen=True)
class CompiledRule:
    index: int
    name: str
    source: list[Matcher]
    target: list[Matcher]
    equal: list[str]

    @classmethod
    def of(cls, index: int, rule: CauseRule) -> CompiledRule:
        source = compile_matchers(rule.source_matchers)
        target = compile_matchers(rule.target_matchers)
        name = rule.name or (
            "{" + ", ".join(map(str, source)) + "} causes {" + ", ".join(map(str, target)) + "}"
        )
        return cls(index, name, source, target, rule.equal)

    def values(self, labels: dict[str, str]) -> str:
        return ", ".join(f"{name}={labels.get(name, '')}" for name in self.equal)

    def is_symptom(self, labels: dict[str, str], values: str) -> bool:
        """A target (and, as in Alertmanager, not also a source) with these ``equal`` values."""
        return (
            matches_all(self.target, labels)
            and not matches_all(self.source, labels)
            and self.values(labels) == values
        )

    def symptoms_in(self, incident: IncidentState, values: str) -> list[str] | None:
        """The members of ``incident`` that are symptoms with ``values``; None
        when some members are not listed (beyond ``max_alerts``), whose labels
        triage no longer has."""
        if incident.truncated:
            return None
        return [
            fp
            for fp, member in incident.members.items()
            if self.is_symptom(read_member(member).labels, values)
        ]


class CauseSymptomPolicy:
    def __init__(
        self,
        membership: Membership,
        rules: list[CauseRule],
        window: timedelta,
        group_window: timedelta,
    ):
        self.membership = membership
        self.rules = [CompiledRule.of(i, rule) for i, rule in enumerate(rules)]
        self.window = window
        self.group_window = group_window
        self.within = f"within {format_duration(group_window)}"

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        labels = event.alert.labels
        as_symptom: list[tuple[IndexKey, IndexKey, CompiledRule]] = []  # cause keys to look up
        as_cause: list[tuple[IndexKey, CompiledRule]] = []  # symptom keys to look up
        for rule in self.rules:
            values = rule.values(labels)
            cause_key = event.key(f"{CAUSE}{rule.index}", values)
            symptom_key = event.key(f"{SYMPTOM}{rule.index}", values)
            is_cause = matches_all(rule.source, labels)
            if is_cause:
                event.keys.append(cause_key)
                event.anchors.append(cause_key)
                as_cause.append((symptom_key, rule))
            # As in Alertmanager, an alert matching both sides is not its own symptom.
            if matches_all(rule.target, labels) and not is_cause:
                event.keys.append(symptom_key)
                as_symptom.append((cause_key, symptom_key, rule))
        for key, _, rule in as_symptom:
            causes = open_candidates(ctx, [key], event, self.window)
            if causes:
                self._join_cause(ctx, causes, event, key, rule)
                return True
        for key, rule in as_cause:
            candidates = open_candidates(ctx, [key], event, self.window)
            if candidates and self._gather_symptoms(ctx, candidates, event, rule):
                return True
        for _, key, rule in as_symptom:
            # No cause yet: wait for it with the symptoms that wait for the same one.
            fellows = [
                incident
                for incident in open_candidates(ctx, [key], event, self.group_window)
                if incident.waiting == key
            ]
            if fellows:
                reason = (
                    f"waits for the same cause (rule {rule.name!r}, "
                    f"equal {rule.values(labels)}) {self.within}"
                )
                self.membership.join(ctx, fellows, event, "cause_symptom", reason)
                return True
        return False

    def _join_cause(
        self,
        ctx: TriageContext,
        causes: list[IncidentState],
        event: AlertEvent,
        key: IndexKey,
        rule: CompiledRule,
    ) -> None:
        cause_fp = causes[0].anchors.get(key)
        cause = describe_listed(causes[0].members.get(cause_fp or ""), "its cause")
        reason = f"symptom of {cause} (rule {rule.name!r}, equal {rule.values(event.alert.labels)})"
        incident = self.membership.join(ctx, causes, event, "cause_symptom", reason)
        if cause_fp is not None and incident.root_cause != cause_fp:
            incident.root_cause = cause_fp
            incident.explain(f"probable root: {cause}")
            ctx.mark_changed(incident)  # a new root is not mere growth

    def _gather_symptoms(
        self,
        ctx: TriageContext,
        candidates: list[IncidentState],
        event: AlertEvent,
        rule: CompiledRule,
    ) -> bool:
        """The cause joins the incidents of its symptoms, merging them; from an
        incident its symptoms were grouped into with other alerts (by scope,
        before the cause fired), it takes only the symptoms. False when no
        candidate holds a symptom any more (they moved on)."""
        values = rule.values(event.alert.labels)
        whole: list[IncidentState] = []
        parts: list[tuple[IncidentState, list[str]]] = []
        for incident in candidates:
            symptoms = rule.symptoms_in(incident, values)
            if symptoms is None or len(symptoms) == incident.size:
                whole.append(incident)
            elif symptoms:
                parts.append((incident, symptoms))
        if not whole and not parts:
            return False
        cause = describe(event.alert.labels)
        reason = f"probable cause of its symptoms (rule {rule.name!r}, equal {values})"
        if whole:
            incident = self.membership.join(ctx, whole, event, "cause_symptom", reason)
        else:
            incident = self.membership.open(ctx, event, values, "cause_symptom", reason)
        for other, symptoms in parts:
            self.membership.move(ctx, other, incident, symptoms, event.at, reason)
        # Symptoms that fired first were grouped by scope or topology, whose
        # keys came along; placed by a rule, an alert registers none, so that a
        # symptom does not pull its whole namespace into its cause's incident.
        ctx.state.unregister(incident, [k for k in incident.keys if not _is_rule_key(k)])
        incident.root_cause = event.fingerprint
        incident.explain(f"probable root: {cause}")
        ctx.mark_changed(incident)  # a new root is not mere growth
        return True
