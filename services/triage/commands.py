"""The ``corral`` subcommands that belong to triage: the worker, and the severity model's tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from shared.cli import Subcommands, config_path, with_config
from shared.logging import configure_logging


def register(commands: Subcommands) -> None:
    commands.worker(
        "triage",
        "services.triage.main:main",
        "Run a triage worker (alerts to incidents); start more to share the partitions.",
    )
    train = commands.add(
        "train",
        cmd_train,
        "Train a severity model from alert rules, JSONL catalogues and on-call feedback.",
    )
    train.add_argument(
        "--data",
        nargs="+",
        default=[],
        metavar="FILE",
        help="Prometheus rule files (groups: or PrometheusRule YAML) or JSONL, one rule a line",
    )
    train.add_argument(
        "--with-catalogue", action="store_true", help="add the catalogue Corral ships"
    )
    train.add_argument(
        "--adapt",
        nargs="+",
        default=[],
        metavar="RULE_FILE",
        help="the team's own Prometheus rule files, labelled or not: learn its severity words, "
        "paging rate and wording (without --data, on top of Corral's catalogue)",
    )
    train.add_argument(
        "--adapt-weight",
        type=float,
        default=10.0,
        metavar="W",
        help="weight of one of the team's labelled rules against a catalogue rule (default 10)",
    )
    train.add_argument(
        "--paging-rate",
        type=_paging_rate,
        metavar="RATE|em",
        help="share of the team's rules that page; default: counted on its labelled rules; "
        "'em': estimated from the unlabelled ones (EM)",
    )
    train.add_argument(
        "--feedback",
        "--feedback-from-kafka",
        dest="feedback",
        action="store_true",
        help="add the verdicts on kafka.topics.feedback, joined with kafka.topics.incidents",
    )
    train.add_argument(
        "--feedback-weight",
        type=float,
        default=3.0,
        metavar="W",
        help="weight of a verdict's alert against a rule (default 3)",
    )
    train.add_argument("--out", required=True, metavar="MODEL", help="model file to write")
    with_config(train)
    classify = commands.add(
        "classify", cmd_classify, "Predict the severity of alerts: one JSON line out per line in."
    )
    classify.add_argument(
        "--data", required=True, metavar="FILE", help="JSONL of alerts or rules; - for stdin"
    )
    _model_argument(classify)
    evaluate = commands.add(
        "evaluate",
        cmd_evaluate,
        "Score a model on labelled data: accuracy, macro-F1, per-class precision and recall.",
    )
    evaluate.add_argument("--data", nargs="+", default=[], metavar="FILE")
    evaluate.add_argument(
        "--feedback",
        action="store_true",
        help="paging precision and recall per team from the verdicts on kafka.topics.feedback",
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    _model_argument(evaluate)


def _model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="MODEL",
        help="model file (default: the default model, built from Corral's catalogue)",
    )
    with_config(parser)


def _paging_rate(value: str) -> float | str:
    if value == "em":
        return value
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a share (0-1) or 'em'") from None
    if not 0 < rate < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not between 0 and 1")
    return rate


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _load_model(args: argparse.Namespace) -> Any:
    from services.triage.config import TriageConfig
    from services.triage.scoring import store
    from services.triage.training.default_model import cache_dir, ensure_default_model
    from shared.config import load_config

    if args.model:
        return store.load(args.model)
    settings = load_config(TriageConfig, config_path(args)).triage.scoring
    return store.load(settings.model or ensure_default_model(cache_dir(settings.model_cache_dir)))


def cmd_train(args: argparse.Namespace) -> int:
    from services.triage.config import TriageConfig
    from services.triage.scoring import store
    from services.triage.training import dataset, feedback
    from services.triage.training.adapt import adapt
    from services.triage.training.default_model import catalogue_files
    from services.triage.training.train import train
    from shared.config import load_config

    files: list[str | Path] = [*args.data]
    if args.with_catalogue or (args.adapt and not args.data):
        files += catalogue_files()
    if not files and not args.feedback:
        return _fail("nothing to train on: give --data, --with-catalogue, --adapt or --feedback")
    try:
        data = dataset.read(files)
        team = [rule.alert for rule in dataset.read_rules(args.adapt)]
    except dataset.DatasetError as exc:
        return _fail(str(exc))
    if args.feedback:
        kafka = load_config(TriageConfig, config_path(args)).kafka
        configure_logging("warning")  # the consumers' progress is not the command's output
        verdicts = asyncio.run(feedback.read_from_kafka(kafka, args.feedback_weight))
        data.examples += verdicts.examples
        data.sources.append(f"{kafka.topics.feedback} ({verdicts.verdicts} verdicts)")
        print(
            f"feedback: {verdicts.verdicts} verdicts, {len(verdicts.examples)} alerts, "
            f"{verdicts.unmatched} verdicts without their incident on {kafka.topics.incidents}"
        )
    try:
        if args.adapt:
            model = adapt(
                data.examples,
                team,
                weight=args.adapt_weight,
                paging_rate=args.paging_rate,
                sources=[*data.sources, *args.adapt],
            )
        else:
            model = train(data.examples, sources=data.sources)
    except ValueError as exc:
        return _fail(str(exc))
    store.save(model, args.out)
    summary = model.metadata["training_data"]
    print(f"trained on {summary['rows']} rows {summary['severities']}, skipped {data.skipped}")
    if args.adapt:
        print(format_adaptation(model.metadata["adaptation"]))
    held_out = model.metadata["metrics"]["cross_validated"]
    if held_out:
        print(
            f"cross-validated ({held_out['folds']} folds): accuracy {held_out['accuracy']:.3f}, "
            f"macro-F1 {held_out['macro_f1']:.3f}"
        )
    print(f"wrote {args.out}")
    return 0


def format_adaptation(adaptation: dict[str, Any]) -> str:
    vocabulary = adaptation["vocabulary"]
    learned = ", ".join(f"{k}={v}" for k, v in vocabulary["values"].items()) or "none"
    rate = adaptation["paging_rate"]
    if rate is None:
        paging = "not adjusted (no labelled rule; --paging-rate em estimates it)"
    else:
        paging = f"{rate:.0%} ({adaptation['paging_rate_from']}), " + (
            f"critical odds x{math.exp(adaptation['critical_shift']):.2f}"
            if adaptation["critical_shift"]
            else "odds unchanged (fewer than 10 unlabelled rules to set them on)"
        )
    return (
        f"adapted to {adaptation['team_rules']} team rules ({adaptation['labelled']} labelled): "
        f"severity label {vocabulary['label']!r}, learned words: {learned}; paging rate {paging}"
    )


def _input(name: str) -> Iterable[str]:
    if name == "-":
        return sys.stdin
    return Path(name).read_text().splitlines()


def cmd_classify(args: argparse.Namespace) -> int:
    from services.triage.scoring import store
    from services.triage.training import dataset

    try:
        model = _load_model(args)
        rows = list(dataset.json_rows(_input(args.data), args.data))
    except (OSError, store.ModelError, dataset.DatasetError) as exc:
        return _fail(str(exc))
    verdicts = model.predict([dataset.alert_text(row) for row in rows])
    out: TextIO = sys.stdout
    for verdict in verdicts:
        line = {
            "severity": verdict.severity,
            "confidence": round(verdict.confidence, 4),
            "probabilities": {k: round(v, 4) for k, v in verdict.probabilities.items()},
        }
        out.write(json.dumps(line) + "\n")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from services.triage.scoring import store
    from services.triage.training import dataset
    from services.triage.training.train import scores

    if not args.data and not args.feedback:
        return _fail("nothing to evaluate: give --data FILE… or --feedback")
    if args.feedback:
        code = _evaluate_feedback(args)
        if code or not args.data:
            return code
    try:
        model = _load_model(args)
        data = dataset.read(args.data)
    except (OSError, store.ModelError, dataset.DatasetError) as exc:
        return _fail(str(exc))
    if not data.examples:
        return _fail("no row with a severity to evaluate on")
    predicted = [v.severity for v in model.predict([e.alert for e in data.examples])]
    result = scores([e.severity for e in data.examples], predicted)
    result["skipped"] = data.skipped
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_scores(result))
    return 0


def _evaluate_feedback(args: argparse.Namespace) -> int:
    from services.triage.config import TriageConfig
    from services.triage.training import feedback
    from shared.config import load_config

    kafka = load_config(TriageConfig, config_path(args)).kafka
    configure_logging("warning")  # the consumers' progress is not the command's output
    verdicts, incidents = asyncio.run(feedback.read_verdicts(kafka))
    teams, unmatched = feedback.paging_by_team(verdicts, incidents)
    if args.json:
        figures = {team: paging.to_json() for team, paging in teams.items()}
        print(json.dumps({"teams": figures, "unmatched": unmatched}, indent=2))
        return 0
    print(format_paging(teams, unmatched, kafka.topics.incidents))
    return 0


def format_paging(teams: dict[str, Any], unmatched: int, incidents_topic: str) -> str:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [
        f"{'team':<20}{'verdicts':>9}{'pages':>7}{'right':>7}{'false':>7}{'missed':>8}"
        f"{'precision':>11}{'recall':>8}"
    ]
    for team, paging in teams.items():
        verdicts = sum(paging.verdicts.values())
        pages = paging.right_pages + paging.false_pages
        lines.append(
            f"{team:<20}{verdicts:>9}{pages:>7}{paging.right_pages:>7}{paging.false_pages:>7}"
            f"{paging.missed_pages:>8}{share(paging.precision):>11}{share(paging.recall):>8}"
        )
    if not teams:
        lines.append("(no verdict yet)")
    lines.append(f"verdicts without their incident on {incidents_topic}: {unmatched}")
    lines.append("a page is an incident of priority P1 or P2; the verdicts say which should be")
    return "\n".join(lines)


def format_scores(result: dict[str, Any]) -> str:
    lines = [
        f"rows {result['rows']} (skipped without severity: {result.get('skipped', 0)})",
        f"accuracy {result['accuracy']:.3f}   macro-F1 {result['macro_f1']:.3f}",
        "",
        f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>8}{'support':>9}",
    ]
    for label, row in result["per_class"].items():
        lines.append(
            f"{label:<10}{row['precision']:>10.3f}{row['recall']:>10.3f}"
            f"{row['f1']:>8.3f}{row['support']:>9}"
        )
    labels = result["labels"]
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines.append(" " * 10 + "".join(f"{label:>10}" for label in labels))
    for label, counts in zip(labels, result["confusion_matrix"], strict=True):
        lines.append(f"{label:<10}" + "".join(f"{n:>10}" for n in counts))
    return "\n".join(lines)
