"""Why an alert did or did not join an incident (``corral explain``).

The history is replayed with the workers' own chain, watching the alert: at
each moment triage placed it, the incident asked about is captured as it
stood just before (its alerts, when it last changed, which keys it answers
to). The verdict then says what decided (policy and reason, the alert key,
the rule, scope or dependency, the window) and, checked against the same
rules, scopes and service map the workers use, what would have to change for
the answer to be the other one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.corral.config import CorralConfig
from services.corral.replay import Placement, Run, replay
from services.triage.causes import CompiledRule
from services.triage.scope import scope_of
from services.triage.servicemap import ServiceMap
from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import IncidentState, describe
from shared.codec import read_member
from shared.durations import format_duration
from shared.history import History
from shared.matchers import matches_all, parse_matchers
from shared.messages import IncidentStatus
from shared.partitioning import alert_key


class ExplainError(Exception):
    """The alert or incident asked about is not in the history."""


@dataclass(frozen=True)
class Snapshot:
    """The incident asked about (or what it had been merged into), just before a placement."""

    id: str
    status: str
    opened_at: datetime
    updated_at: datetime
    members: dict[str, dict[str, str]]


@dataclass
class Moment:
    placement: Placement
    incident: Snapshot | None


@dataclass
class Watch:
    """The replay's probe: snapshots of ``incident`` whenever ``fingerprint`` is placed."""

    fingerprint: str
    incident: str
    merged: dict[str, str] = field(default_factory=dict)
    snapshots: list[Snapshot | None] = field(default_factory=list)

    def __call__(
        self,
        ctx: TriageContext,
        event: AlertEvent,
        incident: IncidentState,
        policy: str,
        reason: str,
        merged: list[IncidentState],
    ) -> None:
        if event.fingerprint == self.fingerprint:
            self.snapshots.append(self._snapshot(ctx))
        for other in merged:
            self.merged[other.id] = incident.id

    def _snapshot(self, ctx: TriageContext) -> Snapshot | None:
        current = self.incident
        while current in self.merged:
            current = self.merged[current]
        state = ctx.state.incidents.get(current)
        if state is None:
            return None
        return Snapshot(
            state.id,
            state.status.value,
            state.opened_at,
            state.updated_at,
            {fp: read_member(m).labels for fp, m in state.members.items()},
        )


def find_alert(history: History, text: str) -> str:
    """A fingerprint, or matchers (``{alertname="X", pod="y"}``) selecting one alert."""
    fingerprints = {a.fingerprint: a.labels for a in history.alerts}
    if text in fingerprints:
        return text
    try:
        matchers = parse_matchers(text)
    except ValueError as exc:
        raise ExplainError(
            f"{text!r} is neither a fingerprint in the history nor matchers: {exc}"
        ) from None
    found = sorted(fp for fp, labels in fingerprints.items() if matches_all(matchers, labels))
    if not found:
        raise ExplainError(f"no alert in the history matches {text}")
    if len(found) > 1:
        shown = "\n".join(f"  {fp} {describe(fingerprints[fp])}" for fp in found[:10])
        more = f"\n  … and {len(found) - 10} more" if len(found) > 10 else ""
        raise ExplainError(f"{len(found)} alerts match {text}; name one:\n{shown}{more}")
    return found[0]


async def explain(config: CorralConfig, history: History, alert: str, incident: str) -> list[str]:
    """The verdict, as lines of text."""
    fingerprint = find_alert(history, alert)
    watch = Watch(fingerprint, incident)
    run = await replay(config, history, watch)
    ids = {p.incident for p in run.placements} | {i.id for _, i in run.revisions}
    if incident not in ids:
        raise ExplainError(f"no incident {incident} in the replay of this history with this config")
    moments = [
        Moment(p, snapshot)
        for p, snapshot in zip(
            [p for p in run.placements if p.fingerprint == fingerprint and p.policy != "moved"],
            watch.snapshots,
            strict=True,
        )
    ]
    return Verdict(config, run, fingerprint, incident, moments).lines()


class Verdict:
    def __init__(
        self, config: CorralConfig, run: Run, fingerprint: str, incident: str, moments: list[Moment]
    ):
        self.config = config
        self.triage = config.triage
        self.run = run
        self.fingerprint = fingerprint
        self.incident = incident
        self.moments = moments
        self.final = run.final()
        self.rules = [CompiledRule.of(i, r) for i, r in enumerate(self.triage.causes.rules)]
        self.services = ServiceMap(self.triage.topology.services)

    def lines(self) -> list[str]:
        labels = self.moments[0].placement.labels if self.moments else {}
        out = [f"alert {describe(labels)} (fingerprint {self.fingerprint})"]
        opened = next((p for p in self.run.placements if p.incident == self.incident), None)
        if opened is not None:
            out.append(
                f"incident {self.incident}: opened {_time(opened.at)} by {describe(opened.labels)}"
                + self._fate(self.incident)
            )
        for moment in self.moments:
            out += ["", *self._moment(moment)]
        return out

    def _fate(self, incident: str) -> str:
        final = self.final(incident)
        return f", merged into {final}" if final != incident else ""

    def _moment(self, moment: Moment) -> list[str]:
        p = moment.placement
        out = [f"{_time(p.at)}: fired; placed in incident {p.incident} by {p.policy}: {p.reason}"]
        moves = [
            m for m in self.run.placements if m.fingerprint == p.fingerprint and m.policy == "moved"
        ]
        moves = [m for m in moves if m.at >= p.at]
        for m in moves:
            out.append(
                f"{_time(m.at)}: moved from incident {m.moved_from} to {m.incident}: {m.reason}"
            )
        where = self.final(moves[-1].incident if moves else p.incident)
        asked = self.final(self.incident)
        left = next((m for m in moves if self.final(m.moved_from or "") == asked), None)
        if where == asked:
            out += self._joined(p, moves)
        elif left is not None:
            out += [
                f"→ it was in incident {asked} until {_time(left.at)}, when its cause took it "
                f"(it ended up in {where}).",
                "  what would keep it there: the cause rule in the reason not naming it as a "
                "symptom (narrow its target_matchers, or add equal labels the two do not share).",
            ]
        else:
            out += self._not_joined(p, where, moment.incident)
        return out

    def _joined(self, p: Placement, moves: list[Placement]) -> list[str]:
        out = [f"→ it is in incident {self.incident}" + (" (merged since)" if p.merged else "")]
        if p.incident == self.incident and p.policy == "new":
            return [*out, "  it opened the incident."]
        if moves:
            return [
                *out,
                "  what would change it: a cause rule that does not name it as a symptom "
                "of that cause (narrow target_matchers or add equal labels).",
            ]
        change = {
            "cause_symptom": "the cause rule named in the reason: narrow its target_matchers "
            "or source_matchers, or add equal labels the two do not share",
            "topology": f"the service map (triage.topology) relating these services, or the "
            f"{self.triage.topology.label} label",
            "scope": "triage.scopes (a finer scope, or one this alert does not carry in "
            f"full) or triage.group_window ({format_duration(self.triage.group_window)})",
            "new": "nothing in this incident's placement; it was merged in later",
        }[p.policy]
        return [*out, f"  what would change it: {change}."]

    def _not_joined(self, p: Placement, where: str, snapshot: Snapshot | None) -> list[str]:
        out = [f"→ not in incident {self.incident} (it ended up in {where})"]
        if snapshot is None:
            return [*out, *self._absent(p)]
        if snapshot.status != IncidentStatus.FIRING.value:
            return [
                *out,
                f"  incident {snapshot.id} was resolved then: only firing ones are joined.",
            ]
        labels = p.labels
        key_labels = self.config.ingest.key_labels
        theirs = {alert_key(m, key_labels) for m in snapshot.members.values()}
        if p.key not in theirs:
            return [*out, self._other_key(p.key, theirs)]
        since = p.at - snapshot.updated_at
        related = [
            *self._by_rules(labels, snapshot, since),
            *self._by_topology(labels, snapshot, since),
        ]
        scope, same_scope = self._by_scope(labels, snapshot, since)
        if not related and not same_scope:
            return [*out, scope, f"  nothing relates them: {self._suggestion(labels, snapshot)}"]
        return [*out, *related, scope]

    def _absent(self, p: Placement) -> list[str]:
        opened = next((q for q in self.run.placements if q.incident == self.incident), None)
        if opened is not None and opened.key != p.key:
            return [self._other_key(p.key, {opened.key})]
        if opened is not None and opened.at > p.at:
            return [
                f"  incident {self.incident} opened only {_ago(opened.at - p.at)} later; an "
                "incident takes in alerts that fired before it only as their cause, through a "
                "cause rule.",
            ]
        return [f"  incident {self.incident} was no longer open then."]

    def _other_key(self, mine: str, theirs: set[str]) -> str:
        key_labels = ", ".join(self.config.ingest.key_labels)
        return (
            f"  key: the alert's key is {mine!r} ({key_labels}), the incident's "
            f"{', '.join(map(repr, sorted(theirs)))}: correlation never crosses the key "
            "(ingest.key_labels)."
        )

    def _by_rules(self, labels: dict[str, str], snapshot: Snapshot, since: timedelta) -> list[str]:
        out = []
        window = self.triage.causes.window
        for rule in self.rules:
            for member in snapshot.members.values():
                if rule.is_symptom(labels, rule.values(member)) and matches_all(
                    rule.source, member
                ):
                    role = f"a symptom of its {describe(member)}"
                elif rule.is_symptom(member, rule.values(labels)) and matches_all(
                    rule.source, labels
                ):
                    role = f"the cause of its {describe(member)}"
                else:
                    continue
                if since > window:
                    out.append(
                        f"  rule {rule.name!r} makes it {role}, but the incident last changed "
                        f"{_ago(since)} before it (causes.window {format_duration(window)})."
                    )
                else:
                    out.append(
                        f"  rule {rule.name!r} makes it {role}; an earlier decision placed it "
                        "first (causes before topology and scope, rules in their order)."
                    )
                break
        return out

    def _by_topology(
        self, labels: dict[str, str], snapshot: Snapshot, since: timedelta
    ) -> list[str]:
        label = self.triage.topology.label
        service = labels.get(label, "")
        if not service or service not in self.services:
            return []
        related = self.services.related(service)
        for member in snapshot.members.values():
            other = member.get(label, "")
            if other and (other == service or other in related):
                return [self._windowed(f"topology relates {service} and {other}", since)]
        return []

    def _by_scope(
        self, labels: dict[str, str], snapshot: Snapshot, since: timedelta
    ) -> tuple[str, bool]:
        """The line about scopes, and whether the two share one."""
        scopes = self.triage.scopes
        mine = scope_of(scopes, labels)
        if mine is None:
            return f"  scope: the alert carries none of triage.scopes {scopes} in full.", False
        theirs = {
            found for m in snapshot.members.values() if (found := scope_of(scopes, m)) is not None
        }
        if mine in theirs:
            return self._windowed(f"same scope {mine[1]}", since), True
        shown = ", ".join(sorted(text for _, text in theirs if text)) or "none"
        return f"  scope: the alert's is {mine[1]}; the incident's alerts': {shown}.", False

    def _windowed(self, relation: str, since: timedelta) -> str:
        window = self.triage.group_window
        if since > window:
            return (
                f"  {relation}, but the incident last changed {_ago(since)} before the alert "
                f"(group_window {format_duration(window)})."
            )
        return f"  {relation}; an earlier decision placed it first (causes before topology, scope)."

    def _suggestion(self, labels: dict[str, str], snapshot: Snapshot) -> str:
        def shared(member: dict[str, str]) -> list[str]:
            return sorted(
                k for k, v in labels.items() if member.get(k) == v and k not in ("alertname",)
            )

        member = max(snapshot.members.values(), key=lambda m: (len(shared(m)), describe(m)))
        equal = shared(member)
        return (
            "a cause rule would join them, e.g. "
            f"{{source_matchers: ['alertname=\"{member.get('alertname', '')}\"'], "
            f"target_matchers: ['alertname=\"{labels.get('alertname', '')}\"'], "
            f"equal: [{', '.join(equal)}]}}"
            + ("" if equal else " (they share no label: check that they are related)")
            + "."
        )


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _ago(delta: timedelta) -> str:
    return format_duration(timedelta(seconds=round(abs(delta.total_seconds()))))
