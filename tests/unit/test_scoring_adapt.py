"""Adapting the severity model to a team: sibling rules, severity words, paging rate, config."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from services.corral.cli import main as corral
from services.triage.scoring import store
from services.triage.scoring.classifier import SeverityModel, shift_critical
from services.triage.scoring.features import AlertText
from services.triage.scoring.reloading import ModelHolder
from services.triage.scoring.siblings import SiblingIndex, positions
from services.triage.scoring.vocabulary import Vocabulary
from services.triage.training import dataset
from services.triage.training.adapt import adapt, em_prior, learn_vocabulary, paging_shift
from services.triage.training.default_model import catalogue_files
from services.triage.training.train import Example, train
from tests.unit.test_scoring_stage import Triage, alert

FIXTURES = Path(__file__).resolve().parents[2] / "bench" / "classifier" / "corpora"
GARDENER = FIXTURES / "gardener.yml"  # severity: blocker, critical, warning, info
PINGCAP = FIXTURES / "pingcap.yml"  # level: emergency, critical, warning


@pytest.fixture(scope="module")
def catalogue() -> list[Example]:
    return dataset.read(list(catalogue_files())).examples


@pytest.fixture(scope="module")
def base(catalogue: list[Example]) -> SeverityModel:
    return train(catalogue, cross_validate=False)


def test_same_name_rules_are_ordered_by_threshold() -> None:
    rules = [
        ("DiskFull", "free_percent < 25"),
        ("DiskFull", "free_percent < 10"),
        ("DiskFull", "free_percent < 15"),
        ("QueueLong", "queue_length > 100"),
        ("QueueLong", "queue_length > 1000"),
        ("Lonely", "up == 0"),
        ("Twin", "a > 1"),
        ("Twin", "a > 1"),
    ]
    assert positions(rules) == [
        "sib_laxest",
        "sib_strictest",
        "sib_middle",
        "sib_laxest",
        "sib_strictest",
        "sib_none",
        "sib_same",
        "sib_same",
    ]
    index = SiblingIndex.from_json(SiblingIndex.of(rules).to_json())
    assert index.position("DiskFull", "free_percent < 5") == "sib_strictest"
    assert index.position("DiskFull", "free_percent < 15") == "sib_middle"
    assert index.position("DiskFull", "") == "sib_unknown"  # no generator URL
    assert index.position("Unknown", "x > 1") == "sib_none"


def test_the_stricter_sibling_pages(catalogue: list[Example]) -> None:
    """Two rules alike but for their threshold: their order decides once the team's set is known."""
    team = [
        AlertText("ReplicationLagHigh", {"severity": "warning"}, expr="lag_seconds > 30"),
        AlertText("ReplicationLagHigh", {"severity": "critical"}, expr="lag_seconds > 300"),
        AlertText("CacheHitRateLow", {"severity": "warning"}, expr="hit_ratio < 0.8"),
        AlertText("CacheHitRateLow", {"severity": "critical"}, expr="hit_ratio < 0.5"),
        AlertText("QueueLagHigh", {}, expr="queue_lag_seconds > 60"),
        AlertText("QueueLagHigh", {}, expr="queue_lag_seconds > 900"),
    ]
    placed = positions([(a.alertname, a.expr) for a in team])
    team = [
        AlertText(a.alertname, a.labels, a.annotations, a.expr, p)
        for a, p in zip(team, placed, strict=True)
    ]
    model = adapt(catalogue, team, weight=30.0, cross_validate=False)
    lax, strict = model.predict(team[4:])
    assert lax.probabilities["critical"] < strict.probabilities["critical"]
    assert "rule is the strictest threshold of its name" in strict.reasons


def test_team_severity_words_are_learned(base: SeverityModel) -> None:
    gardener = [rule.alert for rule in dataset.read_rules([GARDENER])]
    vocabulary = learn_vocabulary(gardener, lambda: base)
    assert vocabulary == Vocabulary("severity", {"blocker": "critical"})
    pingcap = [rule.alert for rule in dataset.read_rules([PINGCAP])]
    assert learn_vocabulary(pingcap, lambda: base) == Vocabulary("level")  # all words known
    assert Vocabulary("level").severity({"level": "emergency"}) == "critical"
    assert Vocabulary("priority").severity({"priority": "P3"}) == "warning"
    assert Vocabulary().severity({"severity": "sev2"}) == "critical"


def test_paging_rate_shifts_the_odds_of_critical() -> None:
    p = np.array([[0.1, 0.9], [0.3, 0.7], [0.45, 0.55], [0.6, 0.4], [0.8, 0.2]])
    shift = paging_shift(p[:, 0], rate=0.6)  # three of five should page
    shifted = shift_critical(p, 0, shift)
    assert (shifted[:, 0] >= 0.5).sum() == 3
    assert np.allclose(shifted.sum(axis=1), 1.0)
    assert np.argsort(shifted[:, 0]).tolist() == np.argsort(p[:, 0]).tolist()


def test_em_recovers_the_prior_of_unlabelled_rules() -> None:
    """Posteriors of a model trained at 50/50, on data that is 20% positive (Saerens et al.)."""
    rng = np.random.default_rng(0)
    positive = rng.random(2000) < 0.2
    scores = rng.normal(np.where(positive, 1.0, -1.0), 1.0)
    p = 1 / (1 + np.exp(-2 * scores))  # exact posterior under equal priors
    prior = em_prior(np.column_stack([p, 1 - p]), np.array([0.5, 0.5]))
    assert prior[0] == pytest.approx(0.2, abs=0.03)


def test_adapting_learns_the_team_and_pages_at_its_rate(catalogue: list[Example]) -> None:
    rules = [rule.alert for rule in dataset.read_rules([PINGCAP])]
    judged = [AlertText(a.alertname, {}, a.annotations, a.expr, a.sibling) for a in rules[1::2]]
    team = [*rules[::2], *judged]
    model = adapt(catalogue, team, cross_validate=False)
    adaptation = model.metadata["adaptation"]
    assert adaptation["vocabulary"]["label"] == "level"
    assert adaptation["paging_rate_from"] == "labelled"
    labelled = rules[::2]
    pages = sum(1 for a in labelled if a.labels["level"] in ("emergency", "critical"))
    assert adaptation["paging_rate"] == pytest.approx((pages + 1) / (len(labelled) + 2), abs=1e-3)
    paged = sum(v.severity == "critical" for v in model.predict(judged))
    assert abs(paged / len(judged) - adaptation["paging_rate"]) <= 0.1
    # The team's severity label is the answer, never a feature.
    assert not any(name.startswith("label level") for name in model.explainer().names if name)


def test_train_adapt_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "team.skops"
    with pytest.raises(SystemExit) as exited:
        corral(["train", "--adapt", str(GARDENER), "--out", str(out)])
    printed = capsys.readouterr().out
    assert exited.value.code == 0, printed
    assert "adapted to 37 team rules (37 labelled)" in printed
    assert "learned words: blocker=critical" in printed
    model = store.load(out)
    assert model.vocabulary.level("Blocker") == "critical"
    assert model.metadata["adaptation"]["paging_rate"] > 0.5  # Gardener pages on most rules

    with pytest.raises(SystemExit) as exited:
        corral(["train", "--adapt", str(tmp_path / "nope.yml"), "--out", str(out)])
    assert exited.value.code == 1 and "no such file" in capsys.readouterr().err


async def test_default_model_adapts_to_the_configured_rule_files(tmp_path: Path) -> None:
    triage = Triage(classifier=True, model_cache_dir=str(tmp_path), adapt_rule_files=[str(PINGCAP)])
    incident = await triage.run(alert("TiKV_channel_full_total", level="emergency"))
    assert incident.severity == "critical"
    assert "severity critical: label level='emergency' of TiKV_channel_full_total" in (
        incident.explanation
    )
    [built] = list(await asyncio.to_thread(tmp_path.glob, "severity-adapted-*.skops"))
    holder = ModelHolder(None, str(tmp_path), timedelta(minutes=1), [str(PINGCAP)])
    assert (await holder.current()) is not None and holder.path == built


def test_check_config_names_a_bad_adapt_rule_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "team.yml"
    broken.write_text("groups:\n- name: x\n  rules: [\n")
    config = tmp_path / "corral.yml"
    config.write_text(f"triage:\n  scoring:\n    adapt_rule_files: [{broken}]\n")
    with pytest.raises(SystemExit) as exited:
        corral(["check-config", str(config)])
    assert exited.value.code == 1
    assert f"triage.scoring.adapt_rule_files: {broken}:" in capsys.readouterr().err
