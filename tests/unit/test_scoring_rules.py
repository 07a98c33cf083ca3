"""Scoring rules: Alertmanager matcher semantics, order, ``continue``, file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.corral.cli import main as corral
from services.triage.scoring.rules import RuleConfig, build_rules, evaluate, load_rule_file
from services.triage.scoring.settings import ScoringSettings
from shared.config import ConfigError


def rules(*configs: dict) -> list:
    return build_rules([RuleConfig.model_validate(c) for c in configs], "test")


@pytest.mark.parametrize(
    ("matcher", "labels", "matches"),
    [
        # Regexes are anchored at both ends, as in Alertmanager.
        ('alertname=~"Disk"', {"alertname": "HostDiskFull"}, False),
        ('alertname=~".*Disk.*"', {"alertname": "HostDiskFull"}, True),
        ('alertname=~"Disk|Host.*"', {"alertname": "HostDiskFull"}, True),
        ('alertname!~"Watchdog"', {"alertname": "Watchdogs"}, True),
        # A missing label is the empty string.
        ('team=""', {}, True),
        ('team=""', {"team": "db"}, False),
        ('team!=""', {}, False),
        ('team=~".*"', {}, True),
        ('team=~".+"', {}, False),
        ('team!~"db"', {}, True),
    ],
)
def test_label_matchers_follow_alertmanager(matcher: str, labels: dict, matches: bool) -> None:
    outcome = evaluate(rules({"matchers": [matcher], "severity": "info"}), labels, {})
    assert (outcome.get("severity") == "info") is matches


def test_annotation_matchers_read_annotations_not_labels() -> None:
    found = rules({"annotation_matchers": ['summary=~".*replica.*"'], "severity": "critical"})
    assert evaluate(found, {}, {"summary": "replica lag 30s"}).get("severity") == "critical"
    assert evaluate(found, {"summary": "replica lag 30s"}, {}).get("severity") is None


def test_first_matching_rule_wins_and_stops() -> None:
    chain = rules(
        {"name": "db", "matchers": ['service="db"'], "severity": "critical"},
        {"name": "all", "team": "sre", "severity": "info"},
    )
    outcome = evaluate(chain, {"service": "db"}, {})
    assert outcome.values == {"severity": "critical"}
    assert outcome.decided_by == {"severity": "db"}
    assert evaluate(chain, {"service": "web"}, {}).values == {"severity": "info", "team": "sre"}


def test_continue_lets_later_rules_fill_what_earlier_ones_left_unset() -> None:
    chain = rules(
        {"name": "team", "matchers": ['namespace=~"pay.*"'], "team": "payments", "continue": True},
        {"name": "sev", "matchers": ['alertname="Slow"'], "severity": "warning", "team": "x"},
        {"name": "never", "severity": "critical"},
    )
    outcome = evaluate(chain, {"namespace": "payments", "alertname": "Slow"}, {})
    assert outcome.values == {"team": "payments", "severity": "warning"}
    assert outcome.decided_by == {"team": "team", "severity": "sev"}
    # Without a second match the continue rule falls through to the catch-all.
    assert evaluate(chain, {"namespace": "payments"}, {}).values == {
        "team": "payments",
        "severity": "critical",
    }


def test_noise_rule() -> None:
    outcome = evaluate(
        rules({"matchers": ['alertname="Watchdog"'], "noise": True}), {"alertname": "Watchdog"}, {}
    )
    assert outcome.noise


BAD_RULES = """\
rules:
  - name: fine
    matchers: ['severity="critical"']
    priority: P1
  - matchers:
      - 'team="db"'
      - 'alertname=~"(Postgres"'
    severity: critical
  - matchers: []
    colour: red
    priority: P9
"""


def test_rule_file_problems_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(BAD_RULES)
    with pytest.raises(ConfigError) as caught:
        load_rule_file(path)
    problems = caught.value.problems
    assert any(
        p.startswith(f"{path}:7: rules.1.matchers.1:") and "regular expression" in p
        for p in problems
    )
    assert f"{path}:10: rules.2.colour: unknown field" in problems
    assert any(p.startswith(f"{path}:11: rules.2.priority:") for p in problems)


def test_rules_without_names_are_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("rules:\n  - severity: info\n  - name: two\n    severity: warning\n")
    assert [r.name for r in load_rule_file(path)] == [f"{path}:2", "two"]


def test_check_config_validates_referenced_rule_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(BAD_RULES)
    config = tmp_path / "corral.yml"
    config.write_text(f"triage:\n  scoring:\n    rule_files: [{path}]\n")
    with pytest.raises(SystemExit) as exited:
        corral(["check-config", str(config)])
    assert exited.value.code == 1
    assert f"{path}:10: rules.2.colour: unknown field" in capsys.readouterr().err

    path.write_text("rules:\n  - matchers: ['team=\"db\"']\n    team: db\n")
    with pytest.raises(SystemExit) as exited:
        corral(["check-config", str(config)])
    assert exited.value.code == 0


def test_inline_rules_come_before_rule_files(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("rules:\n  - severity: info\n")
    settings = ScoringSettings.model_validate(
        {"rules": [{"name": "inline", "severity": "critical"}], "rule_files": [str(path)]}
    )
    assert [r.name for r in settings.compiled_rules] == ["inline", f"{path}:2"]
    missing = tmp_path / "missing.yml"
    with pytest.raises(ConfigError, match="cannot read"):
        ScoringSettings.model_validate({"rule_files": [str(missing)]})
