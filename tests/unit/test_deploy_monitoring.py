"""The shipped Prometheus and Alertmanager configs, checked by the programs' own tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.monitoring import MonitoringTools, require_monitoring_tools

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"


@pytest.fixture(scope="module")
def tools() -> MonitoringTools:
    return require_monitoring_tools()


def run(*args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_corral_rules_are_valid(tools: MonitoringTools) -> None:
    output = run(tools.promtool, "check", "rules", *sorted((PROMETHEUS / "rules").glob("*.yml")))
    assert "SUCCESS: 11 rules found" in output


def test_corral_rules_pass_their_unit_tests(tools: MonitoringTools) -> None:
    run(tools.promtool, "test", "rules", *sorted((PROMETHEUS / "tests").glob("*.yml")))


def test_every_corral_rule_has_a_unit_test() -> None:
    rules = yaml.safe_load((PROMETHEUS / "rules" / "corral.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = {
        case["alertname"]
        for path in (PROMETHEUS / "tests").glob("*.yml")
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert names == tested


def test_compose_prometheus_config_is_valid(tools: MonitoringTools) -> None:
    output = run(tools.promtool, "check", "config", PROMETHEUS / "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in output


def test_kubernetes_prometheus_config_is_valid(tools: MonitoringTools, tmp_path: Path) -> None:
    # Debian builds Prometheus without Kubernetes discovery, so the check
    # swaps it for a static target; the relabelling is checked as written.
    config = yaml.safe_load((PROMETHEUS / "prometheus-kubernetes.yml").read_text())
    config["rule_files"] = [str(PROMETHEUS / pattern) for pattern in config["rule_files"]]
    for job in config["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
        job["static_configs"] = [{"targets": ["pod:9095"]}]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    run(tools.promtool, "check", "config", checked)


def test_alertmanager_config_is_valid(tools: MonitoringTools) -> None:
    run(tools.amtool, "check-config", DEPLOY / "alertmanager" / "alertmanager.yml")


def test_corral_alerts_are_routed_around_corral(tools: MonitoringTools) -> None:
    """A broken Corral cannot page about itself, so its alerts bypass it."""
    config = DEPLOY / "alertmanager" / "alertmanager.yml"
    own = run(
        tools.amtool,
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        "service=corral",
        "alertname=CorralWorkerDown",
    )
    other = run(
        tools.amtool,
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        "alertname=KubeNodeNotReady",
        "cluster=prod",
    )
    assert own.strip() == "corral-operators"
    assert other.strip() == "corral"
