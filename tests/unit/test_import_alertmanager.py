"""``corral import`` on real Alertmanager configurations (tests/fixtures/alertmanager/)
and on hand-written ones for what those do not use: the result passes
check-config, routes as Alertmanager routes, and every setting that did not
map is listed with its line."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.corral.cli import main
from services.corral.config import CorralConfig
from services.corral.from_alertmanager import Imported, convert
from services.notify.routing import RouteNode, routes_for
from shared.config import ConfigError, parse_yaml, read_yaml, validate
from shared.matchers import parse_matcher

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"
PUBLIC = sorted(FIXTURES.glob("*.yml"))


def imported(path: Path) -> Imported:
    return convert(read_yaml(path))


def from_text(text: str, name: str = "alertmanager.yml") -> Imported:
    return convert(parse_yaml(text, name))


def checked(result: Imported) -> CorralConfig:
    """As `corral check-config` reads the written file."""
    return validate(CorralConfig, parse_yaml(yaml.safe_dump(result.config), "corral.yml"))


def notes(result: Imported) -> list[str]:
    return [note.line() for note in result.notes]


def test_every_public_config_is_there() -> None:
    assert {p.name for p in PUBLIC} >= {
        "debian-alertmanager.yml",
        "kube-prometheus.yml",
        "kube-prometheus-stack.yml",
        "openshift-cluster-monitoring.yml",
        "dockprom-opsgenie.yml",
    }
    for path in PUBLIC:
        header = path.read_text().splitlines()[:6]
        assert any(line.startswith("# Source: ") and "https://" in line for line in header)
        assert any(line.startswith("# Licence: ") for line in header), path.name


@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: p.name)
def test_public_configs_pass_check_config(path: Path) -> None:
    config = checked(imported(path))
    original = yaml.safe_load(path.read_text())
    assert config.notify.route.receiver == original["route"]["receiver"]
    assert [r.name for r in config.notify.receivers] == [r["name"] for r in original["receivers"]]


def test_debian_example() -> None:
    result = imported(FIXTURES / "debian-alertmanager.yml")
    config = checked(result)
    route = config.notify.route
    assert route.receiver == "team-X-mails"
    assert str(route.group_wait) == "0:00:30" and str(route.repeat_interval) == "3:00:00"
    assert route.routes[0].matchers == ['service=~"^(foo1|foo2|baz)$"']
    assert route.routes[0].routes[0].matchers == ['severity="critical"']
    database = route.routes[2]
    assert [(r.matchers, r.receiver) for r in database.routes] == [
        (['owner="team-X"'], "team-X-pager"),
        (['owner="team-Y"'], "team-Y-pager"),
    ]
    mails = config.notify.receivers[0].email_configs[0]
    # The global SMTP settings are written into each email config; Alertmanager
    # does not send resolves by email unless asked.
    assert (mails.to, mails.from_, mails.smarthost, mails.auth_username) == (
        ["team-X+alerts@example.org"],
        "alertmanager@example.org",
        "localhost:25",
        "alertmanager",
    )
    assert mails.auth_password == "password" and mails.send_resolved is False
    pager = config.notify.receivers[1]
    assert pager.pagerduty_configs[0].routing_key == "<team-X-key>"
    (rule,) = config.triage.causes.rules
    assert (rule.source_matchers, rule.target_matchers, rule.equal) == (
        ['severity="critical"'],
        ['severity="warning"'],
        ["alertname", "cluster", "service"],
    )
    name = str(FIXTURES / "debian-alertmanager.yml")
    assert notes(result) == [
        f"{name}:16: templates: Go template files are not read: Corral's templates are Jinja2 "
        "(notify.templates); every templated field gets Corral's default text",
        f"{name}:24: route.group_by: Corral groups alerts into incidents itself (triage.scopes, "
        "triage.causes.rules, triage.topology), across routes; the closest setting is "
        "triage.scopes, e.g. [[alertname, cluster, service]]",
        f"{name}:76: route.routes[2].group_by: Corral groups alerts into incidents itself "
        "(triage.scopes, triage.causes.rules, triage.topology), across routes; the closest "
        "setting is triage.scopes, e.g. [[alertname, cluster, database]]",
        f"{name}:90: inhibit_rules: mapped to triage.causes.rules: a firing target (symptom) "
        "joins the incident of its source (cause) and is sent with it, instead of being dropped",
        *(
            f"{name}:{line}: receivers[{i}].pagerduty_configs[0].service_key: an Events API v1 "
            "key, used as routing_key: Corral sends Events API v2; create an Events API v2 "
            "integration on the service if PagerDuty refuses it"
            for line, i in ((108, 1), (116, 3), (120, 4))
        ),
    ]


def test_kube_prometheus_stack() -> None:
    result = imported(FIXTURES / "kube-prometheus-stack.yml")
    config = checked(result)
    assert config.triage.lifecycle.resolve_timeout.total_seconds() == 300
    rules = config.triage.causes.rules
    assert [(r.source_matchers, r.target_matchers, r.equal) for r in rules] == [
        (['severity="critical"'], ['severity=~"warning|info"'], ["namespace", "alertname"]),
        (['severity="warning"'], ['severity="info"'], ["namespace", "alertname"]),
        (['alertname="InfoInhibitor"'], ['severity="info"'], ["namespace"]),
    ]
    assert config.notify.route.routes[0].matchers == ['alertname="Watchdog"']
    # A receiver without integrations stays one: notifications go nowhere.
    assert config.notify.receivers[0].model_dump(exclude_defaults=True) == {"name": "null"}
    assert any(
        ":29: inhibit_rules[3]: a rule without source matchers" in line for line in notes(result)
    )


def test_kube_prometheus_old_match_forms() -> None:
    config = checked(imported(FIXTURES / "kube-prometheus.yml"))
    assert [(r.source_matchers, r.target_matchers) for r in config.triage.causes.rules] == [
        (['severity="critical"'], ['severity=~"warning|info"']),
        (['severity="warning"'], ['severity=~"info"']),
    ]
    assert config.notify.route.routes[0].matchers == ['alertname="Watchdog"']


def test_dockprom_opsgenie_global_defaults_and_templates() -> None:
    result = imported(FIXTURES / "dockprom-opsgenie.yml")
    config = checked(result)
    critical = config.notify.receivers[0].opsgenie_configs[0]
    assert critical.api_key == "{{ OPSGENIE_API_KEY }}"
    assert str(critical.api_url) == "https://api.opsgenie.com/"
    assert (critical.priority, critical.tags, critical.message) == ("P1", ["Prometheus"], None)
    statuspage = config.notify.receivers[3].opsgenie_configs[0]
    assert statuspage.tags == ["Prometheus", "Statuspage"]
    lines = notes(result)
    assert sum("a Go template" in line for line in lines) == 12
    assert any(
        ':33: route.routes[2]: severity="normal": routes match triage\'s severity' in line
        for line in lines
    )


def test_dockprom_slack_keeps_send_resolved_and_plain_fields() -> None:
    result = imported(FIXTURES / "dockprom-slack.yml")
    slack = checked(result).notify.receivers[0].slack_configs[0]
    assert (slack.send_resolved, slack.username, slack.channel, slack.text) == (
        True,
        "Prometheus",
        "#<channel-name>",
        None,
    )
    assert notes(result) == [
        f"{FIXTURES / 'dockprom-slack.yml'}:12: receivers[0].slack_configs[0].text: a Go "
        "template: Corral renders its default summary (Jinja2 templates can replace it)"
    ]


def _receivers_by_amtool(path: Path, labels: dict[str, str]) -> list[str]:
    args = [f"{name}={value}" for name, value in labels.items()]
    done = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={path}", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return list(dict.fromkeys(done.stdout.strip().split(",")))


def _label_sets(config: dict[str, Any]) -> list[dict[str, str]]:
    """Every combination of the values the routes' matchers name (and a miss each)."""
    values: dict[str, set[str]] = {}

    def walk(route: dict[str, Any]) -> None:
        for text in route.get("matchers", []):
            matcher = parse_matcher(text)
            value = matcher.value.strip("^$").split("|")[0].strip("()")
            values.setdefault(matcher.name, {"other"}).add(value)
        for child in route.get("routes", []):
            walk(child)

    walk(config["notify"]["route"])
    names = sorted(values)
    combos = itertools.product(*(sorted(values[n]) for n in names))
    return [dict(zip(names, combo, strict=True)) for combo in itertools.islice(combos, 60)]


@pytest.mark.skipif(shutil.which("amtool") is None, reason="Debian's amtool is not installed")
@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: p.name)
def test_routes_as_alertmanager_routes(path: Path) -> None:
    result = imported(path)
    tree = RouteNode.build(checked(result).notify.route)
    for labels in _label_sets(result.config):
        corral = [node.receiver for node in routes_for(tree, labels)]
        assert corral == _receivers_by_amtool(path, labels), labels


TIME_AND_RECEIVERS = """
global:
  resolve_timeout: 10m
  slack_api_url_file: /etc/alertmanager/slack-url
  telegram_api_url: https://telegram.internal.example.com
  smtp_auth_identity: ops
route:
  receiver: team
  routes:
    - matchers: ['severity=~"critical|page"']
      receiver: pager
      continue: true
      mute_time_intervals: [maintenance]
    - match: {severity: high}
      receiver: chat
      active_time_intervals: [business-hours]
      group_interval: 10m
receivers:
  - name: team
    slack_configs:
      - channel: '#team'
        title: 'Alert: {{ .CommonLabels.alertname }}'
        icon_url: https://example.com/icon.png
  - name: pager
    opsgenie_configs:
      - api_key_file: /etc/alertmanager/opsgenie-key
        api_url: https://api.eu.opsgenie.com/
        responders: [{name: sre, type: team}, {username: oncall@example.com, type: user}]
        details: {runbook: https://runbooks.example.com, cluster: '{{ .CommonLabels.cluster }}'}
        update_alerts: true
    victorops_configs:
      - api_key: x
        routing_key: y
  - name: chat
    msteams_configs:
      - webhook_url_file: /etc/alertmanager/teams-url
        send_resolved: false
    discord_configs:
      - webhook_url: https://discord.com/api/webhooks/123/abc
        title: Corral
    telegram_configs:
      - bot_token_file: /etc/alertmanager/telegram-token
        chat_id: -1001234567890
        parse_mode: MarkdownV2
    webhook_configs:
      - url: https://hooks.example.com/alerts
        max_alerts: 10
        http_config:
          authorization: {credentials_file: /etc/alertmanager/hook-token}
          tls_config: {insecure_skip_verify: true}
time_intervals:
  - name: business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:00', end_time: '17:00'}]
        location: Europe/Berlin
mute_time_intervals:
  - name: maintenance
    time_intervals:
      - weekdays: [tuesday]
        times: [{start_time: '02:00', end_time: '04:00'}]
"""


def test_time_intervals_receivers_and_secrets_files() -> None:
    result = from_text(TIME_AND_RECEIVERS)
    config = checked(result)
    notify = config.notify
    assert [t.name for t in notify.time_intervals] == ["business-hours", "maintenance"]
    pager, chat = notify.route.routes
    assert (pager.matchers, pager.continue_, pager.mute_time_intervals) == (
        ['severity=~"critical|page"'],
        True,
        ["maintenance"],
    )
    # Alertmanager's severity spelling becomes triage's level.
    assert (chat.matchers, chat.active_time_intervals) == (
        ['severity="critical"'],
        ["business-hours"],
    )
    team, pager_receiver, chat_receiver = notify.receivers
    slack = team.slack_configs[0]
    assert (slack.api_url_file, slack.channel, slack.title, slack.send_resolved) == (
        "/etc/alertmanager/slack-url",
        "#team",
        None,
        False,
    )
    opsgenie = pager_receiver.opsgenie_configs[0]
    assert opsgenie.api_key_file == "/etc/alertmanager/opsgenie-key"
    assert [r.model_dump(exclude_none=True) for r in opsgenie.responders] == [
        {"type": "team", "name": "sre"},
        {"type": "user", "username": "oncall@example.com"},
    ]
    assert (opsgenie.details, opsgenie.update_alerts) == (
        {"runbook": "https://runbooks.example.com"},
        True,
    )
    teams = chat_receiver.msteams_configs[0]
    assert (teams.webhook_url_file, teams.send_resolved) == ("/etc/alertmanager/teams-url", False)
    assert chat_receiver.discord_configs[0].title == "Corral"
    telegram = chat_receiver.telegram_configs[0]
    assert (telegram.bot_token_file, telegram.chat_id, str(telegram.api_url)) == (
        "/etc/alertmanager/telegram-token",
        -1001234567890,
        "https://telegram.internal.example.com/",
    )
    hook = chat_receiver.webhook_configs[0]
    assert hook.payload == "alertmanager"
    assert hook.http_config.authorization is not None
    assert hook.http_config.authorization.credentials_file == "/etc/alertmanager/hook-token"
    assert config.triage.lifecycle.resolve_timeout.total_seconds() == 600

    fields = {note.field: (note.where, note.instead) for note in result.notes}
    assert fields["global.smtp_auth_identity"][0] == "alertmanager.yml:6"
    assert "CRAM-MD5" in fields["global.smtp_auth_identity"][1]
    assert "route.routes[0]" not in fields  # critical|page matches triage's critical
    assert "route.routes[1].group_interval" not in fields  # Corral's group_interval
    assert config.notify.route.routes[1].group_interval is not None
    assert fields["receivers[0].slack_configs[0].title"][0] == "alertmanager.yml:22"
    assert (
        "Corral's slack integration has no such setting"
        in (fields["receivers[0].slack_configs[0].icon_url"][1])
    )
    assert fields["receivers[1].opsgenie_configs[0].details.cluster"][0] == "alertmanager.yml:29"
    assert "Corral has no victorops integration" in fields["receivers[1].victorops_configs"][1]
    assert (
        "Office 365 connector URLs are retired"
        in (fields["receivers[2].msteams_configs[0].webhook_url"][1])
    )
    assert "Telegram's HTML" in fields["receivers[2].telegram_configs[0].parse_mode"][1]
    assert "triage.max_alerts" in fields["receivers[2].webhook_configs[0].max_alerts"][1]
    assert fields["receivers[2].webhook_configs[0].http_config.tls_config"][0] == (
        "alertmanager.yml:50"
    )
    assert 'written as severity="critical"' in fields["route.routes[1]"][1]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "route: {receiver: a, routes: [{matchers: ['no operator'], receiver: a}]}\n"
            "receivers: [{name: a}]\n",
            "alertmanager.yml:1: route.routes[0].matchers[0]: invalid matcher 'no operator'",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a}]\n"
            "time_intervals: [{name: t, time_intervals: [{weekdays: ['friday:monday']}]}]\n",
            "alertmanager.yml:3: time_intervals[0].time_intervals[0]: Value error",
        ),
        ("route: [a]\n", "alertmanager.yml:1: route: expected a mapping"),
    ],
)
def test_an_invalid_alertmanager_config_names_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        from_text(text)
    assert raised.value.problems[0].startswith(problem)


def test_command_writes_a_config_that_check_config_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "corral.yml"
    with pytest.raises(SystemExit) as done:
        main(["import", str(FIXTURES / "openshift-cluster-monitoring.yml"), "--out", str(out)])
    assert done.value.code == 0
    err = capsys.readouterr().err
    assert f"{out}: written, passes check-config (2 notes above)" in err
    assert "openshift-cluster-monitoring.yml:28: route.group_by:" in err
    text = out.read_text()
    assert text.startswith("# Imported from openshift-cluster-monitoring.yml by `corral import`.")
    with pytest.raises(SystemExit) as done:
        main(["check-config", str(out)])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"{out}: OK\n"


def test_command_says_when_the_result_needs_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "alertmanager.yml"
    source.write_text(
        "route: {receiver: missing}\nreceivers: [{name: a, email_configs: [{to: x@example.com, "
        "from: am@example.com, smarthost: smtp:25, tls_config: {ca_file: /nonexistent/ca.pem}}]}]\n"
    )
    with pytest.raises(SystemExit) as done:
        main(["import", str(source), "--out", str(tmp_path / "corral.yml")])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert "does not pass check-config yet" in err
    assert "ca_file '/nonexistent/ca.pem' does not exist" in err
