"""How the incidents triage produced compare with the storm's ground truth."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from bench.storm.generator import Storm
from bench.storm.scenarios import Timeline
from services.corral.grouping import pairwise
from shared.messages import Incident


@dataclass
class Report:
    alerts_in: int
    unique_alerts: int
    true_incidents: int
    incidents_out: int
    merged: int
    revisions: int
    precision: float
    recall: float
    f1: float
    repeats_expected: int
    repeats_absorbed: int | None
    alerts_missing: int
    alerts_in_two_incidents: int
    wrong_final_status: int
    truncated: int
    roots_right: int
    roots_expected: int
    flapping_flagged: int
    flapping_expected: int

    @property
    def compression(self) -> float:
        return 1 - self.incidents_out / self.alerts_in

    @property
    def compression_unique(self) -> float:
        return 1 - self.incidents_out / self.unique_alerts

    def lines(self) -> list[str]:
        absorbed = "n/a" if self.repeats_absorbed is None else str(self.repeats_absorbed)
        dedup_ok = (
            self.repeats_absorbed == self.repeats_expected
            and not self.alerts_missing
            and not self.alerts_in_two_incidents
            and not self.wrong_final_status
        )
        return [
            f"alerts in (webhook alerts)     {self.alerts_in}",
            f"unique alerts                  {self.unique_alerts}",
            f"true incidents                 {self.true_incidents}",
            f"incidents out                  {self.incidents_out} "
            f"({self.merged} of them merged into another)",
            f"incident revisions out         {self.revisions}",
            f"compression (vs alerts in)     {self.compression:.1%}",
            f"compression (vs unique alerts) {self.compression_unique:.1%}",
            f"pairwise precision             {self.precision:.3f}",
            f"pairwise recall                {self.recall:.3f}",
            f"pairwise F1                    {self.f1:.3f}",
            f"repeats absorbed               {absorbed} of {self.repeats_expected} expected",
            f"alerts missing / in 2 incidents / wrong final status  "
            f"{self.alerts_missing} / {self.alerts_in_two_incidents} / {self.wrong_final_status}",
            f"dedup correct                  {'yes' if dedup_ok else 'NO'}",
            f"probable root named right      {self.roots_right} of {self.roots_expected}",
            f"flapping incidents flagged     {self.flapping_flagged} of {self.flapping_expected}",
            f"members left out (truncated)   {self.truncated}",
        ]


def expected_repeats(storm: Storm) -> int:
    """Delivered alerts whose status equals the last one delivered for them."""
    last: dict[str, str] = {}
    repeats = 0
    for delivery in storm.deliveries:
        for alert in delivery.payload["alerts"]:
            repeats += last.get(alert["fingerprint"]) == alert["status"]
            last[alert["fingerprint"]] = alert["status"]
    return repeats


def evaluate(storm: Storm, revisions: list[Incident], absorbed: int | None) -> Report:
    latest: dict[str, Incident] = {}
    for incident in revisions:
        if incident.id not in latest or incident.revision > latest[incident.id].revision:
            latest[incident.id] = incident
    live = [i for i in latest.values() if i.merged_into is None]
    truth = storm.truth
    placed: Counter[str] = Counter()
    predicted: dict[str, str] = {}
    status: dict[str, str] = {}
    for incident in live:
        for alert in incident.alerts:
            placed[alert.fingerprint] += 1
            predicted[alert.fingerprint] = incident.id
            status[alert.fingerprint] = alert.status
    final = {fp: t.changes[-1][1] for fp, t in zip(truth, storm.timelines, strict=True)}
    scores = pairwise(truth, predicted)
    roots = {t.truth: fp for fp, t in zip(truth, storm.timelines, strict=True) if _is_root(t)}
    by_truth = {truth[fp]: predicted.get(fp) for fp in roots.values()}
    roots_right = sum(
        1
        for group, fp in roots.items()
        if by_truth[group] is not None and latest[by_truth[group] or ""].root_cause == fp
    )
    flapping_groups = {t.truth for t in storm.timelines if "/flapping/" in t.truth}
    flagged = {
        truth[a.fingerprint]
        for i in latest.values()
        if i.flapping or any("is flapping" in line for line in i.explanation)
        for a in i.alerts
        if a.fingerprint in truth
    }
    return Report(
        alerts_in=storm.alerts_in,
        unique_alerts=len(truth),
        true_incidents=len(set(truth.values())),
        incidents_out=len(latest),
        merged=len(latest) - len(live),
        revisions=len(revisions),
        precision=scores.precision,
        recall=scores.recall,
        f1=scores.f1,
        repeats_expected=expected_repeats(storm),
        repeats_absorbed=absorbed,
        alerts_missing=len(truth.keys() - predicted.keys()),
        alerts_in_two_incidents=sum(1 for n in placed.values() if n > 1),
        wrong_final_status=sum(1 for fp, s in status.items() if fp in final and final[fp] != s),
        truncated=sum(i.truncated_alerts for i in live),
        roots_right=roots_right,
        roots_expected=len(roots),
        flapping_flagged=len(flagged & flapping_groups),
        flapping_expected=len(flapping_groups),
    )


def _is_root(timeline: Timeline) -> bool:
    """The scenarios' causes: what an SRE would name as the root."""
    return timeline.labels["alertname"] in ("KubeNodeNotReady", "PostgresqlDown")
