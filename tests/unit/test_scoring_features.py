"""What the classifier reads of an alert, and what it must never read."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.triage.scoring.features import (
    AlertText,
    expr_from_generator_url,
    expr_tokens,
    row,
    words,
)
from services.triage.training import dataset
from shared.messages import IncidentAlert

URL = (
    "http://prometheus:9090/graph?g0.expr=node_filesystem_avail_bytes%7Bmountpoint%3D%22%2F%22%7D"
    "+%2F+node_filesystem_size_bytes+%3C+0.05&g0.tab=1"
)


def test_expression_comes_from_the_generator_url() -> None:
    assert (
        expr_from_generator_url(URL)
        == 'node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes < 0.05'
    )
    assert expr_from_generator_url("http://prometheus:9090/graph?g0.tab=1") == ""
    assert expr_from_generator_url("") == ""


def test_live_alert_yields_expression_tokens() -> None:
    alert = IncidentAlert(
        fingerprint="f",
        status="firing",
        labels={"alertname": "RootDiskFull", "severity": "critical", "instance": "n1"},
        annotations={"summary": "Disk on n1 almost full"},
        generator_url=URL,
    )
    name, text, expr, expr_words, labels, context = row(AlertText.of(alert))
    assert name == "root disk full"
    assert text == "disk on n1 almost full"
    assert "cmp_lt_ratio0" in expr.split()
    assert "node_filesystem_avail_bytes" in expr.split()
    assert "filesystem" in expr_words.split()
    assert "instance=n1" in labels.split()
    assert context == "nocontext"  # the rule set decides, see test_scoring_adapt


def test_severity_never_reaches_the_features() -> None:
    text = AlertText("X", labels={"severity": "critical", "team": "db"}, annotations={})
    assert "critical" not in " ".join(row(text))
    assert "team=db" in row(text)[4]


def test_empty_columns_are_marked() -> None:
    assert row(AlertText("")) == [
        "noname",
        "notext",
        "noexpr",
        "noexpr_words",
        "nolabels",
        "nocontext",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("KubePodCrashLooping", "kube pod crash looping"),
        ("node_disk_io_errors", "node disk io errors"),
        ("Host {{ $labels.instance }} is down", "host is down"),
        ("HTTPServerErrors", "http server errors"),
    ],
)
def test_words_split_names_and_drop_templates(text: str, expected: str) -> None:
    assert words(text) == expected


def test_comparisons_become_threshold_kinds() -> None:
    tokens = expr_tokens("up == 0 and rate(errors_total[5m]) > 95").split()
    assert {"cmp_eq_zero", "cmp_gt_pct9", "fn_rate", "errors_total"} <= set(tokens)


def test_rule_files_prometheus_rule_manifests_and_jsonl(tmp_path: Path) -> None:
    groups = tmp_path / "rules.yml"
    groups.write_text(
        "groups:\n- name: g\n  rules:\n"
        "  - record: job:up:sum\n    expr: sum(up)\n"
        "  - alert: Down\n    expr: up == 0\n    labels: {severity: page}\n"
        "  - alert: NoSeverity\n    expr: up == 0\n"
    )
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "kind: PrometheusRule\nspec:\n  groups:\n  - name: g\n    rules:\n"
        "    - alert: Slow\n      expr: latency > 1\n      labels: {severity: warning}\n"
        "      annotations: {summary: slow}\n"
    )
    lines = tmp_path / "rules.jsonl"
    lines.write_text(
        '{"alertname": "Full", "expr": "x > 1", "labels": {}, "annotations": {}, '
        '"severity": "info"}\n\n'
        '{"alertname": "Unknown", "expr": "x", "severity": null}\n'
    )
    data = dataset.read([groups, manifest, lines])
    assert [(e.alert.alertname, e.severity) for e in data.examples] == [
        ("Down", "critical"),
        ("Slow", "warning"),
        ("Full", "info"),
    ]
    assert data.skipped == 2


def test_bad_data_names_file_and_line(tmp_path: Path) -> None:
    lines = tmp_path / "rules.jsonl"
    lines.write_text('{"alertname": "A", "severity": "info"}\nnot json\n')
    with pytest.raises(dataset.DatasetError, match=rf"{lines}:2: invalid JSON"):
        dataset.read([lines])
    other = tmp_path / "other.yml"
    other.write_text("just: a mapping\n")
    with pytest.raises(dataset.DatasetError, match="no rule groups"):
        dataset.read([other])
