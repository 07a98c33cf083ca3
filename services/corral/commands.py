"""The ``corral`` commands that learn from recorded alerts and test a config on them:
``alerts export``, ``rules suggest``, ``replay`` and ``explain``.

They live with the ``corral`` command rather than in a service because they
run triage's chain, scoring and notify's routing together, offline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.cli import Subcommands, config_path, duration, log_to_stderr, with_config
from shared.durations import format_duration


def register(commands: Subcommands) -> None:
    alerts = commands.group("alerts", "Recorded alerts.")
    export = alerts.add(
        "export",
        cmd_export,
        "Write the alerts corral.alerts holds as JSONL, the input of suggest, replay, explain.",
    )
    export.add_argument(
        "--since", type=duration, metavar="DURATION", help="only the last DURATION (e.g. 24h)"
    )
    export.add_argument(
        "--with-feedback", action="store_true", help="add the on-call verdicts (corral.feedback)"
    )
    export.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    with_config(export)

    rules = commands.group("rules", "Cause rules.")
    suggest = rules.add(
        "suggest",
        cmd_suggest,
        "Mine cause → symptom rules (triage.causes.rules) from recorded alerts.",
    )
    _history_argument(suggest)
    suggest.add_argument("--out", metavar="FILE", help="write the rules here (default: stdout)")
    suggest.add_argument(
        "--window",
        type=duration,
        default=timedelta(minutes=10),
        metavar="DURATION",
        help="alerts firing this close together co-occur (default 10m)",
    )
    suggest.add_argument(
        "--min-support",
        type=int,
        default=3,
        metavar="N",
        help="causes seen with their symptoms at least N times (default 3)",
    )
    suggest.add_argument(
        "--min-confidence",
        type=float,
        default=0.5,
        metavar="P",
        help="share of the cause's firings that bring the symptom (default 0.5)",
    )
    suggest.add_argument(
        "--min-lift",
        type=float,
        default=10.0,
        metavar="X",
        help="co-occurring at least X times as often as chance would (default 10)",
    )
    suggest.add_argument("--max-rules", type=int, default=50, metavar="N")
    with_config(suggest)

    replay = commands.add(
        "replay",
        cmd_replay,
        "What a config would do with recorded alerts: incidents, merges, pages, accuracy.",
    )
    _history_argument(replay)
    replay.add_argument("--config", required=True, metavar="CANDIDATE", help="the config to try")
    replay.add_argument("--against", metavar="CURRENT", help="the config to compare it with")
    replay.add_argument(
        "--truth",
        metavar="FILE",
        help="the true incidents: JSONL of {fingerprint, incident}, or one JSON object",
    )
    replay.add_argument("--json", action="store_true", help="print the figures as JSON")
    replay.add_argument(
        "--max-page-increase",
        type=float,
        metavar="PERCENT",
        help="fail (exit 1) when the candidate pages more than this %% over --against",
    )
    replay.add_argument(
        "--min-f1",
        type=float,
        metavar="F1",
        help="fail (exit 1) when the candidate's pairwise F1 against --truth is lower",
    )

    explain = commands.add(
        "explain",
        cmd_explain,
        "Why an alert did or did not join an incident, and what would have to change.",
    )
    explain.add_argument(
        "alert", metavar="ALERT", help='a fingerprint or matchers: \'{alertname="X", pod="y"}\''
    )
    explain.add_argument("--incident", required=True, metavar="ID")
    _history_argument(explain)
    with_config(explain)


def _history_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="history",
        required=True,
        nargs="+",
        metavar="FILE",
        help="JSONL from `corral alerts export`, or captured webhooks "
        '({"received_at", "payload"} per line); - for standard input',
    )


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _config(path: str | None, with_env: bool = False) -> Any:
    """The whole config; offline tools read the file alone (``CORRAL_*`` settings
    describe where a worker runs, not what a config does)."""
    from services.corral import config
    from shared.config import CONFIG_ENV

    if with_env:
        return config.load(path)
    return config.load(path or os.environ.get(CONFIG_ENV), env={})


def cmd_export(args: argparse.Namespace) -> int:
    from services.corral.export import export

    log_to_stderr()

    settings = _config(config_path(args), with_env=True)
    since = datetime.now(UTC) - args.since if args.since else None
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        alerts, verdicts = asyncio.run(export(settings.kafka, out, since, args.with_feedback))
    finally:
        if args.out:
            out.close()
    extra = f" and {verdicts} verdicts" if args.with_feedback else ""
    print(f"exported {alerts} alerts{extra}", file=sys.stderr)
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from services.corral.suggest import Thresholds, render, suggest
    from shared.history import HistoryError, read_history

    log_to_stderr()

    settings = _config(config_path(args))
    try:
        history = read_history(args.history)
    except HistoryError as exc:
        return _fail(str(exc))
    thresholds = Thresholds(
        args.window, args.min_support, args.min_confidence, args.min_lift, args.max_rules
    )
    key_labels = settings.ingest.key_labels
    made = suggest(history.keyed(key_labels), key_labels, thresholds)
    header = [
        f"Suggested by `corral rules suggest` from {history.describe()}.",
        f"Window {format_duration(thresholds.window)}; support >= {thresholds.min_support}, "
        f"confidence >= {thresholds.min_confidence}, lift >= {thresholds.min_lift}.",
        "Review each rule and its evidence; try them with `corral replay` before deploying.",
        "",
    ]
    text = render(made, header)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {len(made)} rules to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from services.corral.grouping import read_truth
    from services.corral.replay import replay
    from services.corral.report import compare, format_report
    from shared.history import HistoryError, read_history

    log_to_stderr()

    candidate = _config(args.config)
    current = _config(args.against) if args.against else None
    try:
        history = read_history(args.history)
        truth = read_truth(args.truth) if args.truth else None
    except (HistoryError, OSError) as exc:
        return _fail(str(exc))
    if args.min_f1 is not None and truth is None:
        return _fail("--min-f1 needs --truth")
    if args.max_page_increase is not None and current is None:
        return _fail("--max-page-increase needs --against")

    async def runs() -> tuple[Any, Any]:
        tried = await replay(candidate, history)
        return tried, (await replay(current, history) if current is not None else None)

    tried, baseline = asyncio.run(runs())
    report = compare(history, tried, baseline, truth, args.config, args.against)
    failures = report.gate(args.max_page_increase, args.min_f1)
    report.data["gate"] = {"passed": not failures, "failures": failures}
    if args.json:
        print(json.dumps(report.data, indent=2))
    else:
        print("\n".join(format_report(report)))
    for failure in failures:
        print(f"gate failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def cmd_explain(args: argparse.Namespace) -> int:
    from services.corral.explain import ExplainError, explain
    from shared.history import HistoryError, read_history

    log_to_stderr()

    settings = _config(config_path(args))
    try:
        history = read_history(args.history)
        lines = asyncio.run(explain(settings, history, args.alert, args.incident))
    except (HistoryError, ExplainError) as exc:
        return _fail(str(exc))
    print("\n".join(lines))
    return 0
