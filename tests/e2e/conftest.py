"""End-to-end tests against the real Prometheus and Alertmanager."""

from __future__ import annotations

import pytest

from tests.monitoring import MonitoringTools, require_monitoring_tools


@pytest.fixture(scope="session")
def monitoring_tools() -> MonitoringTools:
    return require_monitoring_tools()
