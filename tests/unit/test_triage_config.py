"""The triage section and its topology file: checked by ``corral check-config``, with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.corral.cli import main
from services.corral.config import load
from shared.config import ConfigError

CONFIG = """\
triage:
  group_window: 5m
  scopes: [[namespace], [node]]
  causes:
    rules:
      - name: node down
        source_matchers: ['alertname="KubeNodeNotReady"']
        target_matchers: ['{alertname=~"KubePod.*", severity!="info"}']
        equal: [cluster, node]
  topology:
    file: TOPOLOGY
    depends_on:
      frontend: [checkout]
  lifecycle: {quiet_period: 5m, reopen_window: 30m, retention: 24h}
"""
TOPOLOGY = """\
checkout: [payments, cart]
payments: [postgres]
"""


def write(tmp_path: Path, config: str = CONFIG, topology: str = TOPOLOGY) -> Path:
    (tmp_path / "topology.yml").write_text(topology)
    path = tmp_path / "corral.yml"
    path.write_text(config.replace("TOPOLOGY", str(tmp_path / "topology.yml")))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, env={})
    return caught.value.problems


def test_topology_file_and_inline_map_are_one_map(tmp_path: Path) -> None:
    settings = load(write(tmp_path), env={}).triage
    assert settings.topology.services == {
        "frontend": ["checkout"],
        "checkout": ["payments", "cart"],
        "payments": ["postgres"],
    }
    assert settings.causes.rules[0].equal == ["cluster", "node"]


def test_check_config_reads_the_topology_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, topology="checkout: payments\n")
    with pytest.raises(SystemExit) as exited:
        main(["check-config", str(path)])
    assert exited.value.code == 1
    assert f"{tmp_path}/topology.yml:1: checkout: Input should be a valid list" in (
        capsys.readouterr().err
    )


def test_dependency_cycle_names_file_and_line(tmp_path: Path) -> None:
    [problem] = problems(write(tmp_path, topology=TOPOLOGY + "postgres: [checkout]\n"))
    assert problem.startswith(f"{tmp_path}/topology.yml:1: dependency cycle: checkout → payments")


def test_missing_topology_file(tmp_path: Path) -> None:
    path = write(tmp_path)
    (tmp_path / "topology.yml").unlink()
    [problem] = problems(path)
    assert problem.startswith(f"{tmp_path}/topology.yml: cannot read")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("'alertname=\"KubeNodeNotReady\"'", "'alertname=~\"(\"'", "corral.yml:7: triage.causes"),
        ("scopes: [[namespace], [node]]", "scopes: [[]]", "corral.yml:3: triage.scopes"),
        ("retention: 24h", "retention: 20m", "corral.yml:1: triage: Value error"),
        ("frontend: [checkout]", "frontend: [frontend]", "corral.yml:10: triage.topology: Value"),
    ],
)
def test_bad_settings_name_the_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    [problem] = problems(write(tmp_path, CONFIG.replace(old, new)))
    assert problem.startswith(f"{tmp_path}/{expected}"), problem
