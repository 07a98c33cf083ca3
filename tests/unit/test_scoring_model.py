"""The severity model: training, skops round trip, safe loading, reload, default model, CLI."""

from __future__ import annotations

import json
import os
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from services.corral.cli import main as corral
from services.triage.scoring import store
from services.triage.scoring.classifier import SeverityModel
from services.triage.scoring.features import AlertText
from services.triage.scoring.reloading import ModelHolder
from services.triage.training import dataset
from services.triage.training.default_model import catalogue_files, ensure_default_model
from services.triage.training.train import train

PROBES = [
    AlertText("DatabaseDown", annotations={"summary": "database is down"}, expr="pg_up == 0"),
    AlertText("CertificateExpiresInAMonth", annotations={"summary": "renewal due in 30 days"}),
    AlertText("QueueBacklogGrowing", annotations={"summary": "messages pile up"}),
]


@pytest.fixture(scope="module")
def model() -> SeverityModel:
    return train(dataset.read(list(catalogue_files())).examples, sources=["catalogue"])


def test_model_round_trips_through_skops(model: SeverityModel, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    store.save(model, path)
    loaded = store.load(path)
    assert loaded.predict(PROBES) == model.predict(PROBES)
    metadata = loaded.metadata
    assert metadata["labels"] == ["critical", "info", "warning"]
    assert metadata["training_data"]["rows"] == len(dataset.read(list(catalogue_files())).examples)
    assert metadata["training_data"]["sources"] == ["catalogue"]
    assert set(metadata["versions"]) >= {"scikit-learn", "numpy", "python"}
    assert metadata["created"]
    assert 0 < metadata["metrics"]["cross_validated"]["macro_f1"] <= 1
    # No pickle anywhere in the file.
    assert not any(name.endswith(".pkl") for name in zipfile.ZipFile(path).namelist())


def test_probabilities_are_a_distribution(model: SeverityModel) -> None:
    for verdict in model.predict(PROBES):
        assert sum(verdict.probabilities.values()) == pytest.approx(1.0)
        assert verdict.confidence == max(verdict.probabilities.values())
    assert model.predict(PROBES[:1])[0].severity == "critical"


def test_untrusted_types_are_refused(model: SeverityModel, tmp_path: Path) -> None:
    path = tmp_path / "evil.skops"
    store.save(model, path)
    # Same metadata, but a pipeline calling arbitrary code.
    metadata = zipfile.ZipFile(path).read(store.METADATA_MEMBER)
    skops.io.dump(make_pipeline(FunctionTransformer(os.getcwd)), path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(store.METADATA_MEMBER, metadata)
    with pytest.raises(store.ModelError, match="untrusted"):
        store.load(path)


def test_files_that_are_not_models_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"not a zip")
    with pytest.raises(store.ModelError, match="cannot read"):
        store.load(path)


async def test_holder_reloads_a_changed_file_and_keeps_the_old_on_failure(
    model: SeverityModel, tmp_path: Path
) -> None:
    path = tmp_path / "model.skops"
    store.save(model, path)
    holder = ModelHolder(str(path), None, timedelta(0))
    first = await holder.current()
    assert first is not None and holder.generation == 1
    assert await holder.current() is first  # unchanged file: no reload

    retrained = train(dataset.read(list(catalogue_files())).examples, sources=["again"])
    store.save(retrained, path)
    second = await holder.current()
    assert second is not first and holder.generation == 2
    assert second.metadata["training_data"]["sources"] == ["again"]

    path.write_bytes(b"broken deploy")
    assert await holder.current() is second
    assert holder.problem and "cannot read" in holder.problem

    # A pipeline of trusted types, fitted, but not over alert text: it loads
    # and is refused by the prediction made before it is swapped in.
    wrong = make_pipeline(StandardScaler(), LogisticRegression()).fit([[0.0], [1.0]], ["a", "b"])
    store.save(SeverityModel(wrong, model.metadata), path)
    assert await holder.current() is second
    assert holder.problem and "cannot predict" in holder.problem


async def test_default_model_is_built_when_missing(tmp_path: Path) -> None:
    holder = ModelHolder(None, str(tmp_path), timedelta(minutes=1))
    loaded = await holder.current()
    assert loaded is not None
    assert holder.path is not None and holder.path.parent == tmp_path
    assert holder.path.name.startswith("severity-default-")
    assert ensure_default_model(tmp_path) == holder.path
    assert loaded.metadata["training_data"]["rows"] > 200


def test_train_classify_evaluate_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "team-rules.yml"
    rules.write_text(
        "groups:\n- name: team\n  rules:\n"
        "  - alert: PaymentsDown\n    expr: up{job='payments'} == 0\n"
        "    labels: {severity: critical}\n"
    )
    out = tmp_path / "model.skops"

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            corral(list(argv))
        captured = capsys.readouterr()
        return int(exited.value.code or 0), captured.out, captured.err

    code, printed, _ = run("train", "--data", str(rules), "--with-catalogue", "--out", str(out))
    assert code == 0 and out.exists()
    assert "cross-validated" in printed

    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(
        '{"labels": {"alertname": "PaymentsDown"}, "generator_url": '
        '"http://p/graph?g0.expr=up%7Bjob%3D%27payments%27%7D+%3D%3D+0"}\n'
        '{"alertname": "TlsCertificateExpiresIn30Days", "expr": "x < 30 * 86400"}\n'
    )
    code, printed, _ = run("classify", "--model", str(out), "--data", str(alerts))
    lines = [json.loads(line) for line in printed.splitlines()]
    assert code == 0 and len(lines) == 2
    assert lines[0]["severity"] == "critical" and 0 < lines[0]["confidence"] <= 1

    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        '{"alertname": "PaymentsDown", "expr": "up == 0", "severity": "critical"}\n'
        '{"alertname": "Other", "expr": "x", "severity": null}\n'
    )
    code, printed, _ = run("evaluate", "--model", str(out), "--data", str(labelled), "--json")
    figures = json.loads(printed)
    assert code == 0
    assert (figures["rows"], figures["skipped"], figures["accuracy"]) == (1, 1, 1.0)
    assert figures["confusion_matrix"] == [[1]]

    code, _, err = run("train", "--data", str(tmp_path / "nope.yml"), "--out", str(out))
    assert code == 1 and "no such file" in err
    code, _, err = run("train", "--data", str(rules), "--out", str(out))
    assert code == 1 and "at least two severities" in err
