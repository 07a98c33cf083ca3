"""Configuration: file plus environment, and errors that say where to look."""

from pathlib import Path

import pytest

from services.corral.cli import main
from services.corral.config import load
from shared.config import ConfigError

GOOD = """\
kafka:
  bootstrap_servers: kafka-1:9092,kafka-2:9092
  partitions: 12
triage:
  group_window: 10m
notify:
  route:
    receiver: default
    routes:
      - receiver: db-team
        matchers: ['service=~"postgres|mysql"']
  receivers:
    - name: default
      log_configs: [{}]
    - name: db-team
      webhook_configs:
        - url: https://hooks.example.com/db
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "corral.yml"
    path.write_text(text)
    return path


def test_file_then_environment(tmp_path: Path) -> None:
    env = {"CORRAL_KAFKA__PARTITIONS": "24", "CORRAL_TRIAGE__GROUP_WINDOW": "30s"}
    config = load(write(tmp_path, GOOD), env)
    assert config.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert config.kafka.partitions == 24
    assert config.triage.group_window.total_seconds() == 30
    assert config.notify.receivers[1].webhook_configs[0].url.host == "hooks.example.com"


def test_kafka_bootstrap_servers_variable_is_honoured(tmp_path: Path) -> None:
    config = load(None, {"KAFKA_BOOTSTRAP_SERVERS": "broker:29092"})
    assert config.kafka.bootstrap_servers == "broker:29092"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("partitions: 12", "partitions: zero"), "corral.yml:3: kafka.partitions"),
        (
            GOOD.replace("group_window: 10m", "group_window: 10 minutes"),
            "corral.yml:5: triage.group_window",
        ),
        (
            GOOD.replace("  partitions: 12", "  partitons: 12"),
            "corral.yml:3: kafka.partitons: unknown field",
        ),
        (
            GOOD.replace('service=~"postgres|mysql"', 'service=~"(postgres"'),
            "corral.yml:11: notify.route.routes.0.matchers",
        ),
        (
            GOOD.replace("url: https://hooks.example.com/db", "url: not a url"),
            "corral.yml:17: notify.receivers.1.webhook_configs.0.url",
        ),
        (GOOD.replace("receiver: db-team", "receiver: nobody"), "receiver 'nobody'"),
        ("kafka: [unclosed", "corral.yml:1: invalid YAML"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text), {})
    assert expected in str(caught.value)


def test_environment_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment variable CORRAL_KAFKA__PARTITIONS"):
        load(None, {"CORRAL_KAFKA__PARTITIONS": "many"})


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, GOOD)
    with pytest.raises(SystemExit) as ok:
        main(["check-config", str(good)])
    assert ok.value.code == 0
    assert f"{good}: OK" in capsys.readouterr().out

    bad = write(tmp_path, GOOD.replace("partitions: 12", "partitions: -1"))
    with pytest.raises(SystemExit) as failed:
        main(["check-config", str(bad)])
    assert failed.value.code == 1
    assert f"{bad}:3: kafka.partitions" in capsys.readouterr().err

    with pytest.raises(SystemExit) as missing:
        main(["check-config", str(tmp_path / "nope.yml")])
    assert missing.value.code == 1
    assert "nope.yml: cannot read" in capsys.readouterr().err
