"""How well the severity classifier tells which rules page, against a strong plain baseline.

Two protocols over nine corpora (two public catalogues read by path, seven
organisations' rule files in ``corpora/``), scoring the paging decision:
critical or not, macro-F1 over the two.

* **leave-one-corpus-out**: train on eight corpora, judge the ninth, a team
  never seen. Corral adapts to the held-out rules as a user's rule files
  (unlabelled: their severity labels are removed), as ``triage.scoring.
  adapt_rule_files`` does at start. Each seed trains on 80% of every training
  corpus and scores a bootstrap resample of the held-out one.
* **in-organisation**: for each organisation, half of its rules keep their
  severity labels as written (Corral adapts to them: vocabulary, paging
  rate, wording) and the other half is judged; both models also train on the
  other eight corpora. Each seed draws another stratified half.

The baseline is a plain TF-IDF (word unigrams and bigrams, sublinear term
frequency) and class-balanced logistic regression over name, annotations and
expression, trained on the same rows for the paging decision directly. Each
figure comes with a 95% interval over seeds (Student t), and so does the
difference, paired by seed. Also prints the default model's scores and
inference throughput (with explanations, as triage runs it).

``make bench-classifier`` or ``python -m bench.classifier.run [--seeds N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from bench.classifier.corpora import PUBLIC, SHARED_RULES, Rule, load
from services.triage.scoring.classifier import SeverityModel
from services.triage.scoring.features import AlertText
from services.triage.scoring.store import load as load_model
from services.triage.training.adapt import adapt, em_paging_rate, paging_shift
from services.triage.training.default_model import ensure_default_model
from services.triage.training.train import Example, scores

TRAIN_SHARE = 0.8

Judge = Callable[[list[Rule], list[Rule], list[Rule]], list[bool]]


def plain_text(alert: AlertText) -> str:
    return " ".join([alert.alertname, *alert.annotations.values(), alert.expr])


def baseline(train_rows: list[Rule], labelled: list[Rule], judged: list[Rule]) -> list[bool]:
    """TF-IDF word 1-2 grams, sublinear tf, class-balanced logistic regression."""
    rows = [*train_rows, *labelled]
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    model.fit([plain_text(r.unlabelled()) for r in rows], [r.pages for r in rows])
    return [bool(p) for p in model.predict([plain_text(r.unlabelled()) for r in judged])]


def corral(train_rows: list[Rule], labelled: list[Rule], judged: list[Rule]) -> SeverityModel:
    """Corral trained on the other corpora, adapted to the team's rule files."""
    base = [Example(r.unlabelled(), r.severity) for r in train_rows]
    team = [r.as_written() for r in labelled] + [r.unlabelled() for r in judged]
    return adapt(base, team, cross_validate=False)


def pages(model: SeverityModel, alerts: Sequence[AlertText]) -> list[bool]:
    return [v.severity == "critical" for v in model.predict(alerts, explain=False)]


def pages_at_em_rate(model: SeverityModel, alerts: Sequence[AlertText]) -> list[bool]:
    """The decisions ``--paging-rate em`` would give: the rate estimated from these alerts."""
    critical = model.classes.index("critical")
    shift = paging_shift(model.probabilities(alerts)[:, critical], em_paging_rate(model, alerts))
    metadata = {
        **model.metadata,
        "adaptation": {**model.metadata["adaptation"], "critical_shift": shift},
    }
    return pages(SeverityModel(model.pipeline, metadata), alerts)


def macro_f1(truth: Sequence[bool], predicted: Sequence[bool]) -> float:
    return float(
        f1_score(truth, predicted, labels=[True, False], average="macro", zero_division=0.0)
    )


@dataclass
class Figures:
    """Per seed, per corpus macro-F1 of each model."""

    corral: dict[str, list[float]]
    baseline: dict[str, list[float]]
    # Corral with the paging rate estimated by EM from the judged rules.
    corral_em: dict[str, list[float]] = field(default_factory=dict)

    def seed_means(self, which: dict[str, list[float]]) -> list[float]:
        return [float(np.mean(run)) for run in zip(*which.values(), strict=True)]


def interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def leave_one_corpus_out(corpora: dict[str, list[Rule]], seeds: int) -> Figures:
    figures = Figures({n: [] for n in corpora}, {n: [] for n in corpora}, {n: [] for n in corpora})
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        for held_out, judged in corpora.items():
            train_rows = [
                rule
                for name, rules in corpora.items()
                if name != held_out
                for rule in _sample(rules, TRAIN_SHARE, rng)
            ]
            resample = [judged[i] for i in rng.integers(0, len(judged), len(judged))]
            truth = [r.pages for r in resample]
            model = corral(train_rows, [], resample)
            alerts = [r.unlabelled() for r in resample]
            figures.corral[held_out].append(macro_f1(truth, pages(model, alerts)))
            figures.corral_em[held_out].append(macro_f1(truth, pages_at_em_rate(model, alerts)))
            figures.baseline[held_out].append(macro_f1(truth, baseline(train_rows, [], resample)))
            _progress()
    return figures


def in_organisation(corpora: dict[str, list[Rule]], seeds: int) -> Figures:
    organisations = [name for name in corpora if name not in PUBLIC]
    figures = Figures({n: [] for n in organisations}, {n: [] for n in organisations})
    for seed in range(seeds):
        for name in organisations:
            rules = corpora[name]
            labelled, judged = train_test_split(
                rules, test_size=0.5, random_state=seed, stratify=[r.pages for r in rules]
            )
            others = [r for other, rs in corpora.items() if other != name for r in rs]
            truth = [r.pages for r in judged]
            model = corral(others, labelled, judged)
            figures.corral[name].append(
                macro_f1(truth, pages(model, [r.unlabelled() for r in judged]))
            )
            figures.baseline[name].append(macro_f1(truth, baseline(others, labelled, judged)))
            _progress()
    return figures


def _sample(rules: list[Rule], share: float, rng: np.random.Generator) -> list[Rule]:
    chosen = rng.choice(len(rules), size=max(1, round(share * len(rules))), replace=False)
    return [rules[i] for i in sorted(chosen)]


def _progress() -> None:
    print(".", end="", file=sys.stderr, flush=True)


def report(title: str, figures: Figures, corpora: dict[str, list[Rule]]) -> dict[str, object]:
    print(f"\n\n{title}")
    print(f"{'corpus':<28}{'rules':>6}{'pages':>7}{'corral':>9}{'baseline':>10}{'diff':>8}")
    for name in figures.corral:
        rules = corpora[name]
        ours, theirs = np.mean(figures.corral[name]), np.mean(figures.baseline[name])
        share = np.mean([r.pages for r in rules])
        figures_line = f"{ours:>9.3f}{theirs:>10.3f}{ours - theirs:>+8.3f}"
        print(f"{name:<28}{len(rules):>6}{share:>7.0%}{figures_line}")
    ours = figures.seed_means(figures.corral)
    theirs = figures.seed_means(figures.baseline)
    difference = [a - b for a, b in zip(ours, theirs, strict=True)]
    summary = {
        "corral": interval(ours),
        "baseline": interval(theirs),
        "difference": interval(difference),
    }
    if figures.corral_em:
        em = figures.seed_means(figures.corral_em)
        summary["corral, EM paging rate"] = interval(em)
        summary["EM minus corral"] = interval([a - b for a, b in zip(em, ours, strict=True)])
    for key, (mean, low, high) in summary.items():
        print(f"  mean {key:<24} {mean:+.3f}  95% CI [{low:+.3f}, {high:+.3f}]".replace("+0", " 0"))
    return {
        "summary": summary,
        "per_corpus": {n: (figures.corral[n], figures.baseline[n]) for n in figures.corral},
    }


def throughput(model: SeverityModel, alerts: Sequence[AlertText], batch: int) -> float:
    started = time.perf_counter()
    done = 0
    while time.perf_counter() - started < 2.0:
        for i in range(0, len(alerts), batch):
            model.predict(alerts[i : i + batch])
        done += len(alerts)
    return done / (time.perf_counter() - started)


def default_model_figures(corpora: dict[str, list[Rule]]) -> None:
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        default = load_model(ensure_default_model(Path(cache)))
        seconds = time.perf_counter() - started
    rows = default.metadata["training_data"]["rows"]
    print(f"\ndefault model (Corral's catalogue, {rows} rules, built in {seconds:.1f}s):")
    for name, rules in corpora.items():
        alerts = [r.unlabelled() for r in rules]
        predicted = [v.severity for v in default.predict(alerts, explain=False)]
        three = scores([r.severity for r in rules], predicted)["macro_f1"]
        paging = macro_f1([r.pages for r in rules], [p == "critical" for p in predicted])
        print(f"  on {name:<28} paging macro-F1 {paging:.3f}   3-class macro-F1 {three:.3f}")
    print("\ninference throughput (one thread, explanations included):")
    everything = [r.unlabelled() for rules in corpora.values() for r in rules]
    for batch in (1, 100, 1000):
        print(f"  batch {batch:>5}: {throughput(default, everything, batch):>9,.0f} alerts/s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=SHARED_RULES, help="public corpus directory")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per protocol (default 5)")
    parser.add_argument("--protocol", choices=("all", "loco", "in-org", "none"), default="all")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    corpora = load(args.rules)
    missing = [name for name in PUBLIC if name not in corpora]
    if missing:
        print(f"note: public corpora not found in {args.rules}: {', '.join(missing)}")
    print(f"{'corpus':<28}{'rules':>6}{'pages':>7}")
    for name, rules in corpora.items():
        print(f"{name:<28}{len(rules):>6}{np.mean([r.pages for r in rules]):>7.0%}")
    results: dict[str, object] = {"seeds": args.seeds}
    if args.protocol in ("all", "loco"):
        figures = leave_one_corpus_out(corpora, args.seeds)
        title = f"leave-one-corpus-out, paging macro-F1, {args.seeds} seeds"
        results["leave_one_corpus_out"] = report(title, figures, corpora)
    if args.protocol in ("all", "in-org"):
        figures = in_organisation(corpora, args.seeds)
        title = f"in-organisation (half labelled, half judged), paging macro-F1, {args.seeds} seeds"
        results["in_organisation"] = report(title, figures, corpora)
    default_model_figures(corpora)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
