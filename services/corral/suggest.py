"""Cause → symptom rules mined from recorded alerts (``corral rules suggest``).

What is counted, per pair of alert names within one alert key (correlation
never crosses it): how often an alert of one fires within ``window`` of an
alert of the other, and over which labels they agree when they do. A rule
is proposed where the pair fires together far more often than chance would
have it (lift), often enough (support) and reliably (confidence); its
``equal`` labels are the ones the pair shares in nearly every co-occurrence.
The cause is the side that fans out (one node, many pods), or, one to one,
the side that usually fires first. Where one cause always brings the same
few values of a target label (one database, the services above it), the rule
names those values, so an unrelated alert of the same name stays apart.

Everything is counted on *episodes*: an alert from the moment it fires until
it resolves. Times are ``received_at``, what triage decides on, except for
which side fires first, which uses the senders' ``startsAt`` where there is one.
The output is deterministic for a given history and thresholds: the same
rules, in the same order, with the same evidence.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from statistics import median, quantiles

from shared.durations import format_duration
from shared.matchers import Matcher, MatchType
from shared.messages import Alert, AlertStatus

# Labels that say what an alert is or how bad, not where: never ``equal``.
NOT_SHARED = {"alertname", "severity", "priority"}
# A label is shared by a pair when nearly every episode of both sides has it,
# and keeps nearly every co-occurrence when required equal.
PRESENT = 0.9
KEPT = 0.9
# One side fans out when it has this many times the other's episodes per co-occurrence.
FAN_OUT = 1.5
# A target label's values are named when each was seen at least this often on average.
REPEATS = 2
MAX_VALUES = 10


@dataclass(frozen=True)
class Episode:
    key: str
    name: str
    labels: dict[str, str]
    start: float  # received_at, seconds
    onset: float  # startsAt (else received_at), seconds
    fingerprint: str


def episodes(keyed: Iterable[tuple[Alert, str]]) -> list[Episode]:
    """Each alert's firing spells, in the order they started."""
    firing: set[tuple[str, str]] = set()
    found: list[Episode] = []
    for alert, key in keyed:
        identity = (key, alert.fingerprint)
        if alert.status == AlertStatus.RESOLVED:
            firing.discard(identity)
            continue
        if identity in firing:
            continue
        firing.add(identity)
        received = alert.received_at.timestamp()
        onset = alert.starts_at.timestamp() if alert.starts_at is not None else received
        found.append(
            Episode(
                key,
                alert.labels.get("alertname", ""),
                alert.labels,
                received,
                min(onset, received),
                alert.fingerprint,
            )
        )
    return found


@dataclass(frozen=True)
class Thresholds:
    window: timedelta = timedelta(minutes=10)
    min_support: int = 3
    min_confidence: float = 0.5
    min_lift: float = 10.0
    max_rules: int = 50


@dataclass
class Relation:
    """Evidence that ``target`` alerts are symptoms of ``source`` alerts."""

    source: str
    target: str
    equal: tuple[str, ...]
    support: int  # source episodes with a target episode
    sources: int  # all source episodes
    explained: int  # target episodes with a source episode
    targets: int  # all target episodes
    lift: float
    lags: list[float]  # target start - source start, seconds
    examples: list[tuple[Episode, int]]  # source episode, its target episodes
    # Each target episode with its nearest source; target episodes without one.
    pairs: list[tuple[Episode, Episode]] = field(default_factory=list)
    misses: list[Episode] = field(default_factory=list)
    every_source: list[Episode] = field(default_factory=list)

    def restricted(self, label: str, value: str) -> Relation:
        """The evidence of the sources with ``label`` = ``value`` alone (lift stays the whole's)."""
        pairs = [(s, t) for s, t in self.pairs if s.labels.get(label) == value]
        per_source = Counter(id(s) for s, _ in pairs)
        firsts = {id(s): s for s, _ in pairs}
        examples = sorted(
            ((firsts[k], n) for k, n in per_source.items()), key=lambda x: (-x[1], x[0].start)
        )
        return replace(
            self,
            support=len(per_source),
            sources=sum(1 for e in self.every_source if e.labels.get(label) == value),
            explained=len(pairs),
            lags=sorted(t.start - s.start for s, t in pairs),
            examples=examples[:3],
            pairs=pairs,
        )

    @property
    def confidence(self) -> float:
        return self.support / self.sources if self.sources else 0.0

    @property
    def coverage(self) -> float:
        return self.explained / self.targets if self.targets else 0.0


class _Pairing:
    """Episodes of two names within one key, matched on ``equal`` labels within a window."""

    def __init__(self, sources: list[Episode], targets: list[Episode], window: float):
        self.sources = sources
        self.targets = targets
        self.window = window

    def match(self, equal: Sequence[str]) -> tuple[set[int], dict[int, int]]:
        """Source episodes with a target nearby, and each target with a source
        nearby → its nearest source."""
        with_target = set(_nearest(self.targets, self.sources, equal, self.window))
        return with_target, _nearest(self.sources, self.targets, equal, self.window)


def _nearest(
    there: list[Episode], here: list[Episode], equal: Sequence[str], window: float
) -> dict[int, int]:
    """Each episode of ``here`` with one of ``there`` (same ``equal`` values)
    within ``window`` → the nearest such."""
    by_values: dict[tuple[object, ...], list[tuple[float, int]]] = defaultdict(list)
    for i, episode in enumerate(there):
        by_values[_values(episode, equal)].append((episode.start, i))
    found: dict[int, int] = {}
    for j, episode in enumerate(here):
        items = by_values.get(_values(episode, equal))
        if not items:
            continue
        times = [t for t, _ in items]
        low = bisect.bisect_left(times, episode.start - window)
        high = bisect.bisect_right(times, episode.start + window)
        if low < high:
            best = min(range(low, high), key=lambda k: (abs(times[k] - episode.start), k))
            found[j] = items[best][1]
    return found


def _values(episode: Episode, equal: Sequence[str]) -> tuple[object, ...]:
    return (episode.key, *(episode.labels.get(name, "") for name in equal))


def _shared_labels(a: list[Episode], b: list[Episode], key_labels: Sequence[str]) -> list[str]:
    def common(episodes: list[Episode]) -> set[str]:
        counts = Counter(name for e in episodes for name in e.labels)
        return {name for name, n in counts.items() if n >= PRESENT * len(episodes)}

    return sorted((common(a) & common(b)) - NOT_SHARED - set(key_labels))


def mine(
    found: list[Episode], key_labels: Sequence[str], thresholds: Thresholds = Thresholds()
) -> list[Relation]:
    """Every relation that passes the thresholds, strongest first."""
    window = thresholds.window.total_seconds()
    by_name: dict[str, list[Episode]] = defaultdict(list)
    for episode in found:
        by_name[episode.name].append(episode)
    spans = _spans(found)
    relations: list[Relation] = []
    names = sorted(by_name)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            relation = _relate(by_name[first], by_name[second], key_labels, window, spans)
            if relation is not None and _passes(relation, thresholds):
                relations.append(relation)
    return _prune(relations)


def _spans(found: list[Episode]) -> dict[str, float]:
    """How long each key's history runs (at least a day, so that a short one
    does not make every pair look like chance)."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for e in found:
        first[e.key] = min(first.get(e.key, e.start), e.start)
        last[e.key] = max(last.get(e.key, e.start), e.start)
    return {key: max(last[key] - first[key], 86400.0) for key in first}


def _relate(
    x: list[Episode],
    y: list[Episode],
    key_labels: Sequence[str],
    window: float,
    spans: dict[str, float],
) -> Relation | None:
    pairing = _Pairing(x, y, window)
    matched_x, nearest = pairing.match(())
    if not nearest:
        return None
    equal: list[str] = []
    base = len(matched_x) + len(nearest)
    shared = _shared_labels(x, y, key_labels)
    for _ in shared:
        best: tuple[int, str] | None = None
        for name in shared:
            if name in equal:
                continue
            mx, ny = pairing.match([*equal, name])
            kept = len(mx) + len(ny)
            if kept >= KEPT * base and (best is None or kept > best[0]):
                best = (kept, name)
        if best is None:
            break
        equal.append(best[1])
    matched_x, nearest = pairing.match(equal)
    matched_y = set(nearest)
    fan = len(matched_y) / len(matched_x) if matched_x else 0.0
    onsets = [y[j].onset - x[i].onset for j, i in nearest.items()]
    if fan >= FAN_OUT:
        source, target = x, y
    elif fan <= 1 / FAN_OUT:
        source, target = y, x
    else:
        first_x = median(onsets) >= 0 if onsets else True
        source, target = (x, y) if first_x else (y, x)
    if source is not x:
        pairing = _Pairing(source, target, window)
    matched, nearest = pairing.match(equal)
    keys = sorted(set(key_labels) & set(source[0].labels) & set(target[0].labels))
    lags = sorted(target[j].start - source[i].start for j, i in nearest.items())
    per_source = Counter(nearest.values())
    examples = [
        (source[i], n)
        for i, n in sorted(per_source.items(), key=lambda item: (-item[1], source[item[0]].start))
    ][:3]
    relation = Relation(
        source=source[0].name,
        target=target[0].name,
        equal=(*keys, *sorted(equal)),
        support=len(matched),
        sources=len(source),
        explained=len(nearest),
        targets=len(target),
        lift=_lift(source, target, equal, window, spans, len(matched)),
        lags=lags,
        examples=examples,
        pairs=[(source[i], target[j]) for j, i in sorted(nearest.items())],
        misses=[e for j, e in enumerate(target) if j not in nearest],
        every_source=source,
    )
    return relation


def _lift(
    source: list[Episode],
    target: list[Episode],
    equal: Sequence[str],
    window: float,
    spans: dict[str, float],
    support: int,
) -> float:
    """Observed co-occurrence over what chance gives: for each source episode,
    the share of the history that lies within the window of a target episode
    with its ``equal`` values, the chance that a source placed at random would
    have had one nearby. Bursts (forty pods at once) count by the time they
    cover, not by their number."""
    covered: dict[tuple[object, ...], float] = {}
    starts: dict[tuple[object, ...], list[float]] = defaultdict(list)
    for e in target:
        starts[_values(e, equal)].append(e.start)
    for values, times in starts.items():
        total, end = 0.0, float("-inf")
        for t in sorted(times):
            low, high = max(t - window, end), t + window
            total += max(0.0, high - low)
            end = max(end, high)
        covered[values] = total
    expected = sum(min(1.0, covered.get(_values(e, equal), 0.0) / spans[e.key]) for e in source)
    return support / expected if expected else float("inf")


@dataclass(frozen=True)
class Naming:
    """Target label values a cause is seen with, per value of a source label
    (one key ``""`` when one set serves every source)."""

    source_label: str | None = None
    target_label: str | None = None
    values: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"": ()})


def _naming(relations: list[Relation], skip: set[str], min_support: int) -> Naming:
    """Name the values of one target label a cause is seen with, when other
    values of it fire without the cause: those are not its symptoms. A label
    of the cause whose values bring different targets (two databases, the
    services above each) splits the rule, when each value was seen often enough."""
    pairs = [pair for r in relations for pair in r.pairs]
    misses = [e for r in relations for e in r.misses]
    best: tuple[int, int, str] | None = None
    for label in sorted({name for _, t in pairs for name in t.labels} - skip):
        seen = Counter(t.labels.get(label, "") for _, t in pairs)
        if "" in seen or len(seen) > MAX_VALUES or len(seen) * REPEATS > len(pairs):
            continue
        others = sum(1 for e in misses if e.labels.get(label) not in seen)
        if others and (best is None or (others, -len(seen)) > (best[0], best[1])):
            best = (others, -len(seen), label)
    if best is None:
        return Naming()
    label = best[2]
    every = tuple(sorted({t.labels[label] for _, t in pairs}))
    for split in sorted({name for s, _ in pairs for name in s.labels} - skip):
        groups: dict[str, set[str]] = defaultdict(set)
        for s, t in pairs:
            groups[s.labels.get(split, "")].add(t.labels[label])
        if "" in groups or not 2 <= len(groups) <= MAX_VALUES:
            continue
        support = Counter(s.labels[split] for s in {id(s): s for s, _ in pairs}.values())
        if (
            len({frozenset(v) for v in groups.values()}) > 1
            and min(support.values()) >= min_support
        ):
            values = {k: tuple(sorted(v)) for k, v in sorted(groups.items())}
            return Naming(split, label, values)
    return Naming(None, label, {"": every})


def _passes(relation: Relation, thresholds: Thresholds) -> bool:
    return (
        relation.support >= thresholds.min_support
        and relation.confidence >= thresholds.min_confidence
        and relation.lift >= thresholds.min_lift
    )


def _prune(relations: list[Relation]) -> list[Relation]:
    """Leave out A → B where a cause R of A also causes B and explains nearly
    all the B that A does: B is R's symptom, and A a fellow symptom."""
    edges = {(r.source, r.target): r for r in relations}
    kept = []
    for r in relations:
        redundant = any(
            (root, r.source) in edges
            and (root, r.target) in edges
            and edges[(root, r.target)].explained >= KEPT * r.explained
            for root in {s for s, _ in edges}
            if root not in (r.source, r.target)
        )
        if not redundant:
            kept.append(r)
    return kept


@dataclass
class Rule:
    """One suggested ``triage.causes.rules`` entry and the relations behind it."""

    name: str
    source_matchers: list[str]
    target_matchers: list[str]
    equal: list[str]
    relations: list[Relation]
    support: int  # source episodes seen with a target (of this rule's source value)

    def as_config(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source_matchers": self.source_matchers,
            "target_matchers": self.target_matchers,
            "equal": self.equal,
        }


def rules(
    relations: list[Relation], key_labels: Sequence[str], thresholds: Thresholds = Thresholds()
) -> list[Rule]:
    """Relations of one cause and one set of ``equal`` labels as one rule (one
    per source value where the named target values differ); causes that are
    nobody's symptom first, then by support."""
    groups: dict[tuple[str, tuple[str, ...]], list[Relation]] = defaultdict(list)
    for r in relations:
        groups[(r.source, r.equal)].append(r)
    symptoms = {r.target for r in relations}
    made = []
    for (source, equal), members in sorted(groups.items()):
        members.sort(key=lambda r: r.target)
        names = [r.target for r in members]
        naming = _naming(members, {*equal, *key_labels, *NOT_SHARED}, thresholds.min_support)
        for value, targets in naming.values.items():
            source_matchers = [_equal("alertname", source)]
            shown = source
            evidence = members
            if naming.source_label:
                source_matchers.append(_equal(naming.source_label, value))
                shown = f"{source}{{{naming.source_label}={value}}}"
                evidence = [r.restricted(naming.source_label, value) for r in members]
            target_matchers = [_one_of("alertname", names)]
            if naming.target_label:
                target_matchers.append(_one_of(naming.target_label, list(targets)))
            made.append(
                Rule(
                    name=f"{shown} causes {', '.join(names)}",
                    source_matchers=["{" + ", ".join(source_matchers) + "}"],
                    target_matchers=["{" + ", ".join(target_matchers) + "}"],
                    equal=list(equal),
                    relations=evidence,
                    support=max(r.support for r in evidence),
                )
            )
    made.sort(key=lambda r: (r.relations[0].source in symptoms, -r.support, r.name))
    return made[: thresholds.max_rules]


def _equal(name: str, value: str) -> str:
    return str(Matcher.create(name, MatchType.EQUAL, value))


def _one_of(name: str, values: list[str]) -> str:
    if len(values) == 1:
        return _equal(name, values[0])
    return str(Matcher.create(name, MatchType.REGEX, "|".join(map(_literal, values))))


def _literal(value: str) -> str:
    """``value`` as a regex that matches it alone (RE2 and Go's syntax alike)."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", value)


def suggest(
    keyed: Iterable[tuple[Alert, str]],
    key_labels: Sequence[str],
    thresholds: Thresholds = Thresholds(),
) -> list[Rule]:
    """Rules for the alerts of a history (each with its key), strongest first."""
    relations = mine(episodes(keyed), key_labels, thresholds)
    return rules(relations, key_labels, thresholds)


# Rendering ------------------------------------------------------------------


def _duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    return sign + format_duration(timedelta(seconds=round(abs(seconds))))


def _evidence(r: Relation) -> list[str]:
    lags = r.lags
    spread = ""
    if len(lags) >= 2:
        cuts = quantiles(lags, n=10, method="inclusive")
        spread = f", p10 {_duration(cuts[0])}, p90 {_duration(cuts[-1])}"
    before = sum(1 for lag in lags if lag < 0)
    lines = [
        f"{r.target}: support {r.support} of {r.sources} {r.source}, "
        f"confidence {r.confidence:.2f}, explains {r.explained} of {r.targets} "
        f"{r.target} ({r.coverage:.0%}), lift {_number(r.lift)}",
        f"  lag after the cause: median {_duration(median(lags))}{spread}; "
        f"{before} of {len(lags)} fired first",
    ]
    for episode, count in r.examples:
        where = ", ".join(f"{n}={episode.labels.get(n, '')}" for n in r.equal)
        at = datetime.fromtimestamp(episode.start, UTC).strftime("%Y-%m-%d %H:%M")
        lines.append(f"  e.g. {at} {where}: {r.source} with {count} {r.target}")
    return lines


def _number(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def render(made: list[Rule], header: list[str]) -> str:
    """A config fragment (``triage.causes.rules``) with each rule's evidence as comments."""
    lines = [f"# {line}" if line else "#" for line in header]
    lines += ["triage:", "  causes:", "    rules:" if made else "    rules: []"]
    for index, rule in enumerate(made, 1):
        lines.append(f"      # {index}. {rule.name}")
        for relation in rule.relations:
            lines += [f"      #    {line}" for line in _evidence(relation)]
        lines += [
            f"      - name: {_quoted(rule.name)}",
            f"        source_matchers: [{', '.join(map(_quoted, rule.source_matchers))}]",
            f"        target_matchers: [{', '.join(map(_quoted, rule.target_matchers))}]",
            f"        equal: [{', '.join(rule.equal)}]",
        ]
    return "\n".join(lines) + "\n"
