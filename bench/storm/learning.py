"""``python -m bench.storm.learning``: correlation learned from history, on the harder storm.

For each seed: generates a history period and the harder storm after it
(``generator.learning_storm``), writes both as captured webhooks, mines cause
rules from the history alone with ``corral rules suggest``'s code, and replays
the storm with ``corral replay``'s code (the workers' triage chain, scoring
and notify's routing, on event time) under three configs: Corral's defaults;
the defaults plus the suggested rules; the defaults plus rules written by
hand from the scenarios. Prints pairwise precision, recall and F1 against the
storm's truth, compression against the ideal, and pages per true incident.
Then ``triage.causes.hold`` at several lengths, on the harder storm with the
suggested rules and on ``make bench-triage``'s storm with its rule and map:
pages, pages saved against no hold, how many true incidents are paged later
and by how much, and how often the first page already names a probable root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from bench.storm.__main__ import triage_settings
from bench.storm.evaluate import _is_root
from bench.storm.generator import Storm, generate, learning_storm
from services.corral.config import CorralConfig
from services.corral.replay import Run, replay
from services.corral.suggest import render, suggest
from shared.config import read_yaml, validate
from shared.durations import parse_duration
from shared.history import History, read_history
from shared.logging import configure_logging

T0 = datetime(2026, 11, 2, tzinfo=UTC)
HOLDS = ["0s", "15s", "30s", "1m", "2m", "3m"]

# What an SRE who knows these systems writes, one rule per failure the
# scenarios model (the storm's truth is built from the same knowledge).
HAND_WRITTEN = [
    {
        "name": "node down",
        "source_matchers": ['alertname="KubeNodeNotReady"'],
        "target_matchers": ['alertname=~"KubeNodeUnreachable|TargetDown|KubePodNotReady"'],
        "equal": ["cluster", "node"],
    },
    {
        "name": "orders database down",
        "source_matchers": ['{alertname="PostgresqlDown", service="postgres-orders"}'],
        "target_matchers": [
            '{alertname=~"HTTPErrorRateHigh|HTTPLatencyHigh", '
            'service=~"orders-api|checkout|fulfillment"}'
        ],
        "equal": ["cluster"],
    },
    {
        "name": "payments database down",
        "source_matchers": ['{alertname="PostgresqlDown", service="postgres-payments"}'],
        "target_matchers": [
            '{alertname=~"HTTPErrorRateHigh|HTTPLatencyHigh", service=~"payments|checkout"}'
        ],
        "equal": ["cluster"],
    },
    {
        "name": "bad rollout",
        "source_matchers": ['alertname="KubeDeploymentRolloutStuck"'],
        "target_matchers": ['alertname=~"KubeDeploymentReplicasMismatch|KubePodCrashLooping"'],
        "equal": ["cluster", "namespace"],
    },
    {
        "name": "disk full",
        "source_matchers": ['alertname="NodeFilesystemSpaceFillingUp"'],
        "target_matchers": ['alertname="NodeFilesystemAlmostOutOfSpace"'],
        "equal": ["cluster", "node", "mountpoint"],
    },
    {
        "name": "flaky NIC",
        "source_matchers": ['alertname="NodeNetworkReceiveErrs"'],
        "target_matchers": ['alertname="NodeNetworkTransmitErrs"'],
        "equal": ["cluster", "node", "device"],
    },
]


def timestamp(seconds: float | None) -> str:
    if seconds is None:
        return "0001-01-01T00:00:00Z"
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def write_captured(storm: Storm, path: Path) -> None:
    """The storm's webhooks as captured in front of Alertmanager."""
    with path.open("w") as out:
        for delivery in storm.deliveries:
            payload = {
                **delivery.payload,
                "alerts": [
                    {**a, "startsAt": timestamp(a["startsAt"]), "endsAt": timestamp(a["endsAt"])}
                    for a in delivery.payload["alerts"]
                ],
            }
            line = {"received_at": timestamp(delivery.at), "payload": payload}
            out.write(json.dumps(line) + "\n")


def config(rules: list[dict[str, Any]], hold: str | None = None) -> CorralConfig:
    causes: dict[str, Any] = {"rules": rules}
    if hold is not None:
        causes["hold"] = hold
    return CorralConfig.model_validate({"triage": {"causes": causes}})


def suggested(history_file: Path, out: Path) -> list[dict[str, Any]]:
    """``corral rules suggest --from history_file --out out``, and its rules as config."""
    defaults = CorralConfig()
    history = read_history([history_file])
    made = suggest(history.keyed(defaults.ingest.key_labels), defaults.ingest.key_labels)
    out.write_text(render(made, [f"suggested from {history_file.name}"]))
    loaded = validate(CorralConfig, read_yaml(out))  # as `corral check-config` reads it
    return [rule.model_dump() for rule in loaded.triage.causes.rules]


@dataclass
class Held:
    """One hold's outcome on one storm, against no hold."""

    pages: int = 0
    saved: int = 0
    delayed: list[float] = field(default_factory=list)  # seconds added, per true incident
    root_first: int = 0  # true incidents with a root whose first page names a probable root
    with_root: int = 0

    def add(self, other: Held) -> None:
        self.pages += other.pages
        self.saved += other.saved
        self.delayed += other.delayed
        self.root_first += other.root_first
        self.with_root += other.with_root


def held(run: Run, unheld: Run, truth: dict[str, str], roots: set[str]) -> Held:
    waits, before = run.time_to_page(truth), unheld.time_to_page(truth)
    added = [waits[g] - before[g] for g in waits if g in before and waits[g] > before[g]]
    revisions = {(i.id, i.revision): i for _, i in run.revisions}
    first: dict[str, bool] = {}
    for page in sorted(run.paging.pages, key=lambda p: p.at):
        shown = revisions[(page.incident_id, page.revision)]
        for alert in shown.alerts:
            group = truth.get(alert.fingerprint)
            if group in roots and group not in first:
                first[group] = shown.root_cause is not None
    pages = len(run.paging.pages)
    return Held(pages, len(unheld.paging.pages) - pages, added, sum(first.values()), len(roots))


async def hold_sweep(
    configs: Callable[[str], CorralConfig], history: History, storm: Storm
) -> dict[str, Held]:
    truth = storm.truth
    roots = {t.truth for t in storm.timelines if _is_root(t)}
    unheld = await replay(configs("0s"), history)
    return {
        hold: held(await replay(configs(hold), history), unheld, truth, roots) for hold in HOLDS
    }


def bench_config(hold: str) -> CorralConfig:
    """``make bench-triage``'s triage settings, in storm time."""
    seconds = parse_duration(hold).total_seconds()
    return CorralConfig.model_validate({"triage": triage_settings(hold=seconds)})


@dataclass
class Seed:
    results: dict[str, dict[str, Any]]
    hard: dict[str, Held]
    plain: dict[str, Held]


async def run_seed(seed: int, folder: Path, days: float) -> Seed:
    past, present = learning_storm(seed, history_days=days)
    write_captured(past, folder / "history.jsonl")
    write_captured(present, folder / "storm.jsonl")
    rules = suggested(folder / "history.jsonl", folder / "suggested.yml")
    history = read_history([folder / "storm.jsonl"])
    truth = present.truth
    configs = {
        "defaults": config([]),
        "defaults + suggested": config(rules),
        "hand-written": config(HAND_WRITTEN),
    }
    results = {}
    for name, candidate in configs.items():
        run = await replay(candidate, history)
        results[name] = run.summary(truth)
    plain = generate(seed)
    write_captured(plain, folder / "bench-storm.jsonl")
    return Seed(
        results,
        await hold_sweep(lambda hold: config(rules, hold), history, present),
        await hold_sweep(bench_config, read_history([folder / "bench-storm.jsonl"]), plain),
    )


def table(rows: list[tuple[int, str, dict[str, Any]]]) -> list[str]:
    lines = [
        "| seed | config | alerts in / unique | true incidents | incidents (merged) "
        "| compression vs unique (ideal) | % of ideal | precision | recall | F1 "
        "| pages | pages per true incident |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for seed, name, r in rows:
        t = r["truth"]
        ideal = t["ideal_compression_unique"]
        lines.append(
            f"| {seed} | {name} | {r['alerts_in']} / {r['unique_alerts']} | {t['true_incidents']} "
            f"| {r['incidents']} ({r['merged']}) | {r['compression_unique']:.1%} ({ideal:.1%}) "
            f"| {r['compression_unique'] / ideal:.0%} | {t['precision']:.3f} | {t['recall']:.3f} "
            f"| {t['f1']:.3f} | {r['pages']} | {t['pages_per_true_incident']:.2f} |"
        )
    return lines


def hold_table(storm: str, sweep: dict[str, Held]) -> list[str]:
    lines = [
        f"| {storm}: hold | pages | pages saved | true incidents paged later "
        "| delay added, median / max | first page names a probable root |",
        "|---|---|---|---|---|---|",
    ]
    for hold, h in sweep.items():
        delay = f"{median(h.delayed):.0f}s / {max(h.delayed):.0f}s" if h.delayed else "0s / 0s"
        lines.append(
            f"| {hold} | {h.pages} | {h.saved} | {len(h.delayed)} | {delay} "
            f"| {h.root_first} of {h.with_root} |"
        )
    return lines


async def main_async(seeds: Sequence[int], days: float, keep: Path | None) -> None:
    rows = []
    hard = {hold: Held() for hold in HOLDS}
    plain = {hold: Held() for hold in HOLDS}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            folder = keep / f"seed-{seed}" if keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            result = await run_seed(seed, folder, days)
        rows += [(seed, name, summary) for name, summary in result.results.items()]
        for hold in HOLDS:
            hard[hold].add(result.hard[hold])
            plain[hold].add(result.plain[hold])
    print("\n".join(table(rows)))
    print(f"\ntriage.causes.hold, summed over seeds {', '.join(map(str, seeds))}:\n")
    print("\n".join(hold_table("harder storm, suggested rules", hard)))
    print()
    print("\n".join(hold_table("bench-triage storm, its rule and map", plain)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storm.learning", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--history-days", type=float, default=3)
    parser.add_argument("--keep", type=Path, help="write each seed's files into this folder")
    args = parser.parse_args()
    configure_logging("warning")
    asyncio.run(main_async(args.seeds, args.history_days, args.keep))


if __name__ == "__main__":
    main()
