"""What ``corral replay`` prints: one config's figures, or a candidate's against
the current one's, with the incidents it splits and joins, accuracy against a
truth file or the on-call verdicts in the history, and the CI gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.corral.grouping import Change, changes
from services.corral.replay import Run
from shared.history import History
from shared.messages import FeedbackVerdict

SHOWN_CHANGES = 5


@dataclass
class Report:
    data: dict[str, Any]

    def gate(self, max_page_increase: float | None, min_f1: float | None) -> list[str]:
        """What fails the gate, if anything."""
        failures = []
        candidate = self.data["candidate"]
        current = self.data.get("current")
        if max_page_increase is not None and current is not None:
            limit = current["pages"] * (1 + max_page_increase / 100)
            if candidate["pages"] > limit:
                failures.append(
                    f"candidate pages {candidate['pages']} times, current {current['pages']} "
                    f"(at most +{max_page_increase:g}% allowed)"
                )
        truth = candidate.get("truth")
        if min_f1 is not None and truth is not None and truth["f1"] < min_f1:
            failures.append(f"candidate's pairwise F1 is {truth['f1']:.3f}, below {min_f1:g}")
        return failures


def compare(
    history: History,
    candidate: Run,
    current: Run | None,
    truth: dict[str, str] | None,
    candidate_name: str,
    current_name: str | None,
) -> Report:
    data: dict[str, Any] = {
        "history": {
            "sources": history.sources,
            "alerts": len(history.alerts),
            "start": history.start.isoformat() if history.start else None,
            "end": history.end.isoformat() if history.end else None,
            "verdicts": len(history.feedback),
        },
        "candidate": {"config": candidate_name, **candidate.summary(truth)},
    }
    if current is not None:
        data["current"] = {"config": current_name, **current.summary(truth)}
        splits, joins = changes(current.grouping(), candidate.grouping())
        data["changes"] = {
            "split": [_change(c, current, candidate) for c in splits],
            "joined": [_change(c, current, candidate) for c in joins],
        }
    if history.feedback:
        baseline = current or candidate
        data["candidate"]["feedback"] = feedback_scores(history, baseline, candidate)
        if current is not None:
            data["current"]["feedback"] = feedback_scores(history, baseline, current)
    return Report(data)


def _change(change: Change, before: Run, after: Run) -> dict[str, Any]:
    def titles(run: Run, ids: list[str]) -> list[dict[str, str]]:
        latest = run.latest()
        return [{"id": i, "title": latest[i].title if i in latest else ""} for i in ids]

    return {
        "alerts": change.alerts,
        "current": titles(before, change.before),
        "candidate": titles(after, change.after),
    }


def feedback_scores(history: History, baseline: Run, run: Run) -> dict[str, Any]:
    """How the pages of ``run`` fare against the on-call verdicts in the history.

    Verdicts name incidents of the live run; ``baseline`` (the current config,
    or the candidate if there is none) replays those incidents with the same
    ids, which says which alerts people judged real (verdict ``right`` or
    ``priority``) or noise. A page is right when its incident turned out to
    hold an alert judged real, wrong when all it held was judged noise;
    recall is the share of incidents judged real that someone was paged for.
    """
    final = baseline.final()
    groups: dict[str, set[str]] = {}
    for fp, incident in baseline.grouping().items():
        groups.setdefault(incident, set()).add(fp)
    verdicts = {
        f.incident_id: f.verdict for f in sorted(history.feedback, key=lambda f: f.received_at)
    }
    real: list[set[str]] = []
    noise: set[str] = set()
    for incident, verdict in verdicts.items():
        alerts = groups.get(final(incident), set())
        if verdict == FeedbackVerdict.NOISE:
            noise |= alerts
        elif alerts:
            real.append(alerts)
    members: dict[str, set[str]] = {}
    for fp, incident in run.grouping().items():
        members.setdefault(incident, set()).add(fp)
    follow = run.final()
    paged: set[str] = set()
    right = wrong = 0
    for page in run.paging.pages:
        shown = members.get(follow(page.incident_id), set())
        paged |= shown
        if any(shown & group for group in real):
            right += 1
        elif shown and shown <= noise:
            wrong += 1
    judged = right + wrong
    return {
        "verdicts": len(verdicts),
        "judged_pages": judged,
        "precision": round(right / judged, 4) if judged else None,
        "recall": round(sum(1 for g in real if g & paged) / len(real), 4) if real else None,
    }


def format_report(report: Report) -> list[str]:
    data = report.data
    history = data["history"]
    runs = ([data["current"]] if "current" in data else []) + [data["candidate"]]
    names = (["current"] if "current" in data else []) + ["candidate"]
    out = [
        f"history: {', '.join(history['sources'])}: {history['alerts']} alerts "
        f"from {history['start']} to {history['end']}"
        + (f", {history['verdicts']} verdicts" if history["verdicts"] else ""),
        "",
        f"{'':28}" + "".join(f"{name:>24}" for name in names),
        f"{'config':28}" + "".join(f"{r['config']:>24}" for r in runs),
    ]

    def row(label: str, value: Any) -> None:
        out.append(f"{label:28}" + "".join(f"{value(r):>24}" for r in runs))

    row("incidents", lambda r: str(r["incidents"]))
    row("  merged into another", lambda r: str(r["merged"]))
    row("  opened, merged unseen", lambda r: str(r["opened_and_merged_unseen"]))
    row(
        "compression (in / unique)",
        lambda r: f"{r['compression']:.1%} / {r['compression_unique']:.1%}",
    )
    row("pages", lambda r: str(r["pages"]))
    receivers = sorted({k for r in runs for k in r["pages_by_receiver"]})
    for receiver in receivers:
        row(f"  to {receiver}", lambda r, k=receiver: str(r["pages_by_receiver"].get(k, 0)))
    priorities = sorted({k for r in runs for k in r["pages_by_priority"]})
    for priority in priorities:
        row(f"  {priority}", lambda r, k=priority: str(r["pages_by_priority"].get(k, 0)))
    row("updates / resolves", lambda r: f"{r['updates']} / {r['resolves']}")
    if any(r["set_aside"] for r in runs):
        row("alerts set aside (a bug)", lambda r: str(r["set_aside"]))
    if all("truth" in r for r in runs):
        row(
            "precision / recall / F1",
            lambda r: (
                f"{r['truth']['precision']:.3f} / {r['truth']['recall']:.3f} / "
                f"{r['truth']['f1']:.3f}"
            ),
        )
        row("true incidents", lambda r: str(r["truth"]["true_incidents"]))
        row("pages per true incident", lambda r: f"{r['truth']['pages_per_true_incident']:.2f}")
        row(
            "time to page median / max",
            lambda r: (
                f"{r['truth']['time_to_page_seconds']['median']:g}s / "
                f"{r['truth']['time_to_page_seconds']['max']:g}s"
            ),
        )
    if all("feedback" in r for r in runs):
        row(
            "verdicts: page precision",
            lambda r: _ratio(r["feedback"]["precision"]),
        )
        row("verdicts: recall", lambda r: _ratio(r["feedback"]["recall"]))
    if "changes" in data:
        changed = data["changes"]
        out += [
            "",
            f"against current: {len(changed['split'])} incidents split, "
            f"{len(changed['joined'])} joined",
        ]
        for kind, items in (("joined", changed["joined"]), ("split", changed["split"])):
            for item in items[:SHOWN_CHANGES]:
                before = ", ".join(i["id"] for i in item["current"])
                after = ", ".join(i["id"] for i in item["candidate"])
                title = (item["candidate"] if kind == "joined" else item["current"])[0]["title"]
                out.append(f"  {kind}: {before} → {after} ({item['alerts']} alerts; {title})")
            if len(items) > SHOWN_CHANGES:
                out.append(f"  … and {len(items) - SHOWN_CHANGES} more {kind} (see --json)")
    return out


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
