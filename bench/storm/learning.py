"""``python -m bench.storm.learning``: correlation learned from history, on the harder storm.

For each seed: generates a history period and the harder storm after it
(``generator.learning_storm``), writes both as captured webhooks, mines cause
rules from the history alone with ``corral rules suggest``'s code, and replays
the storm with ``corral replay``'s code (the workers' triage chain, scoring
and notify's routing, on event time) under three configs: Corral's defaults;
the defaults plus the suggested rules; the defaults plus rules written by
hand from the scenarios. Prints pairwise precision, recall and F1 against the
storm's truth, compression against the ideal, and pages per true incident.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.storm.generator import Storm, learning_storm
from services.corral.config import CorralConfig
from services.corral.replay import replay
from services.corral.suggest import render, suggest
from shared.config import read_yaml, validate
from shared.history import read_history
from shared.logging import configure_logging

T0 = datetime(2026, 11, 2, tzinfo=UTC)

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


async def run_seed(seed: int, folder: Path, days: float) -> dict[str, dict[str, Any]]:
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
    return results


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


async def main_async(seeds: Sequence[int], days: float, keep: Path | None) -> None:
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            folder = keep / f"seed-{seed}" if keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            for name, result in (await run_seed(seed, folder, days)).items():
                rows.append((seed, name, result))
    print("\n".join(table(rows)))


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
