"""notify's config as ``corral check-config`` sees it, and ``corral routes test``."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.corral.cli import main

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
        '  pager: route.routes[0] {priority=~"P1|P2"} group_wait=30s repeat_interval=1h'
    )
    assert (
        lines[2] == '  storage: route.routes[1] {team="storage"} group_wait=30s repeat_interval=4h'
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
