"""Cross-corpus benchmark of the severity classifier against a plain baseline.

Trains on one evaluation corpus and scores on the other, both directions,
for Corral's classifier and for a plain TF-IDF + logistic regression over
the same text (alert name, annotations and expression concatenated). Also
scores the default model (trained only on Corral's own catalogue) on both
corpora, and measures inference throughput in alerts per second.

The corpora are evaluation data, read by path and never copied into the
repository: ``make bench-classifier`` or
``python -m bench.classifier.run [--rules DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from services.triage.scoring.classifier import SeverityModel
from services.triage.scoring.store import load
from services.triage.training import dataset
from services.triage.training.default_model import ensure_default_model
from services.triage.training.train import Example, scores, train

CORPORA = ("awesome-prometheus-alerts", "monitoring-mixins")
DEFAULT_RULES = Path(__file__).resolve().parents[3] / "shared" / "data" / "rules"


def plain_text(example: Example) -> str:
    alert = example.alert
    return " ".join([alert.alertname, *alert.annotations.values(), alert.expr])


def baseline_f1(train_rows: Sequence[Example], test_rows: Sequence[Example]) -> float:
    baseline = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    baseline.fit([plain_text(e) for e in train_rows], [e.severity for e in train_rows])
    predicted = baseline.predict([plain_text(e) for e in test_rows])
    return float(scores([e.severity for e in test_rows], list(predicted))["macro_f1"])


def evaluate(model: SeverityModel, rows: Sequence[Example]) -> dict[str, object]:
    predicted = [v.severity for v in model.predict([e.alert for e in rows])]
    return scores([e.severity for e in rows], predicted)


def throughput(model: SeverityModel, rows: Sequence[Example], batch: int) -> float:
    alerts = [e.alert for e in rows]
    started = time.perf_counter()
    done = 0
    while time.perf_counter() - started < 2.0:
        for i in range(0, len(alerts), batch):
            model.predict(alerts[i : i + batch])
        done += len(alerts)
    return done / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="corpus directory")
    args = parser.parse_args(argv)
    paths = {name: args.rules / f"{name}.jsonl" for name in CORPORA}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        print(f"skipped: evaluation corpora not found: {', '.join(missing)}", file=sys.stderr)
        return 0
    corpora = {name: dataset.read([path]).examples for name, path in paths.items()}
    print(f"{'train -> evaluate':<58}{'corral':>8}{'baseline':>10}{'accuracy':>10}")
    for source, target in (CORPORA, CORPORA[::-1]):
        started = time.perf_counter()
        model = train(corpora[source])
        seconds = time.perf_counter() - started
        result = evaluate(model, corpora[target])
        base = baseline_f1(corpora[source], corpora[target])
        print(
            f"{source + ' -> ' + target:<58}{result['macro_f1']:>8.3f}{base:>10.3f}"
            f"{result['accuracy']:>10.3f}   (trained in {seconds:.1f}s)"
        )
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        default = load(ensure_default_model(Path(cache)))
        seconds = time.perf_counter() - started
    rows = default.metadata["training_data"]["rows"]
    print(f"\ndefault model (Corral's catalogue, {rows} rules, built in {seconds:.1f}s):")
    for name in CORPORA:
        result = evaluate(default, corpora[name])
        print(
            f"  on {name:<40} macro-F1 {result['macro_f1']:.3f}  accuracy {result['accuracy']:.3f}"
        )
    print("\ninference throughput (one predict_proba call per batch, one thread):")
    everything = [e for name in CORPORA for e in corpora[name]]
    for batch in (1, 100, 1000):
        print(f"  batch {batch:>5}: {throughput(default, everything, batch):>9,.0f} alerts/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
