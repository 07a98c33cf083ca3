"""notify's config as ``corral check-config`` sees it, and ``corral routes test``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from services.corral.cli import main
from services.notify.config import NotifySettings, SlackConfig

CONFIG = """\
notify:
  templates: [{templates}]
  route:
    receiver: default
    group_wait: 30s
    routes:
      - matchers: ['priority=~"P1|P2"']
        receiver: pager
        continue: true
        repeat_interval: 1h
      - matchers: ['team="storage"']
        receiver: storage
  receivers:
    - name: default
      log_configs: [{{}}]
    - name: pager
      pagerduty_configs:
        - routing_key: abc
          summary: '{{% import "corral.j2" as c %}}{{{{ c.summary(incident) }}}}'
    - name: storage
      limits: {{concurrency: 2, per_second: 1, burst: 3}}
      slack_configs:
        - api_url: https://hooks.slack.com/services/T/B/X
          text: '{text}'
      email_configs:
        - to: storage@example.com
          from: corral@example.com
          smarthost: smtp.example.com:587
          tls_config: {{ca_file: {ca_file}}}
"""


def write(tmp_path: Path, text: str = "{{ summary }}", ca_file: str = "", macro: str = "") -> Path:
    templates = tmp_path / "corral.j2"
    templates.write_text(macro or "{% macro summary(i) %}{{ i.title }}{% endmacro %}\n")
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    path = tmp_path / "corral.yml"
    path.write_text(CONFIG.format(templates=templates, text=text, ca_file=ca_file or str(ca)))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit.value.code or 0), out, err


def test_a_full_notify_section_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    assert run(capsys, "check-config", str(path)) == (0, f"{path}: OK\n", "")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"text": "{{ summary "}, ":24: notify.receivers.2.slack_configs.0.text: Value error, "
         "template syntax error on its line 1"),
        ({"ca_file": "/nonexistent/ca.pem"}, ":29: notify.receivers.2.email_configs.0.tls_config"
         ".ca_file: Value error, ca_file '/nonexistent/ca.pem' does not exist"),
        ({"macro": "{% macro summary(i) %}\n{{ i.title }\n{% endmacro %}"},
         "corral.j2:2: template syntax error"),
    ],
)  # fmt: skip
def test_template_and_file_errors_name_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kwargs: dict[str, str], expected: str
) -> None:
    code, _, err = run(capsys, "check-config", str(write(tmp_path, **kwargs)))
    assert code == 1
    assert expected in err


def test_routes_test_prints_receivers_and_routes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write(tmp_path))
    code, out, _ = run(capsys, "routes", "test", "--config", path, "priority=P1", "team=storage")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "pager,storage"
    assert lines[1] == (
        '  pager: route.routes[0] {priority=~"P1|P2"} group_wait=30s group_interval=10m '
        "repeat_interval=1h"
    )
    assert (
        lines[2] == '  storage: route.routes[1] {team="storage"} group_wait=30s group_interval=10m '
        "repeat_interval=4h"
    )

    assert run(capsys, "routes", "test", "--config", path, "team=web")[1].splitlines()[0] == (
        "default"
    )
    code, _, err = run(
        capsys, "routes", "test", "--config", path, "--verify-receivers", "pager", "team=x"
    )
    assert (code, err.strip()) == (1, "error: expected pager")
    code, _, err = run(capsys, "routes", "test", "--config", path, "team")
    assert (code, err.strip()) == (2, "error: 'team' is not LABEL=VALUE")


ESCALATION = {
    "receivers": [{"name": n} for n in ("team", "primary", "secondary")],
    "escalation_policies": [
        {
            "name": "db",
            "steps": [
                {"after": "0m", "receivers": ["primary"]},
                {"after": "15m", "receivers": ["secondary"]},
            ],
            "repeat": 1,
            "repeat_after": "30m",
        }
    ],
    "route": {"receiver": "team", "routes": [{"matchers": ['team="db"'], "escalation": "db"}]},
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"route": {"receiver": "team", "routes": [{"escalation": "nope"}]}}, "policy 'nope'"),
        ({"policy": {"steps": [{"after": "0m", "receivers": ["ghost"]}]}}, "receiver 'ghost'"),
        (
            {
                "policy": {
                    "steps": [
                        {"after": "5m", "receivers": ["primary"]},
                        {"after": "1m", "receivers": ["primary"]},
                    ]
                }
            },
            "in order of after",
        ),
        ({"policy": {"repeat_after": None}}, "repeat needs repeat_after"),
        ({"policy": {"repeat_after": "10m"}}, "later than the last step"),
    ],
)
def test_escalation_policies_are_checked(change: dict[str, Any], problem: str) -> None:
    settings = copy.deepcopy(ESCALATION)
    settings["escalation_policies"][0].update(change.pop("policy", {}))
    settings.update(change)
    with pytest.raises(ValidationError, match=problem):
        NotifySettings.model_validate(settings)


def test_routes_test_shows_each_receivers_escalation_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "corral.yml"
    path.write_text(yaml.safe_dump({"notify": ESCALATION}))
    code, out, _ = run(capsys, "routes", "test", "--config", str(path), "team=db")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "primary,secondary"
    assert lines[2].endswith("escalation=db step 2 after 15m")


@pytest.mark.parametrize(
    ("slack", "problem"),
    [
        ({}, "api_url .* or app_token"),
        ({"api_url": "https://hooks.slack.com/x", "app_token": "xoxb-1"}, "or app_token"),
        ({"app_token": "xoxb-1"}, "needs channel"),
    ],
)
def test_a_slack_config_is_one_mode_or_the_other(slack: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        SlackConfig.model_validate(slack)
    assert SlackConfig.model_validate({"app_token": "xoxb-1", "channel": "C1"}).app
