"""Debian's Prometheus and Alertmanager for the tests, installed when missing.

The real programs are the point of the tests that use them, so a test does
not fake them: it installs the Debian packages (as root, with apt-get) and
skips, saying why, only when that is impossible.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass

import pytest

from tests.debian import install

PACKAGES = ("prometheus", "prometheus-alertmanager")


@dataclass(frozen=True)
class MonitoringTools:
    prometheus: str
    promtool: str
    alertmanager: str
    amtool: str


def _find() -> MonitoringTools | None:
    # Debian names the binary prometheus-alertmanager; upstream, alertmanager.
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    paths = [shutil.which("prometheus"), shutil.which("promtool"), alertmanager]
    paths.append(shutil.which("amtool"))
    if not all(paths):
        return None
    return MonitoringTools(*paths)  # type: ignore[arg-type]


@functools.cache
def _tools_or_reason() -> MonitoringTools | str:
    tools = _find()
    if tools is not None:
        return tools
    problem = install(*PACKAGES)
    tools = _find()
    if tools is not None:
        return tools
    return problem or f"{' '.join(PACKAGES)} installed but their binaries are not on PATH"


def require_monitoring_tools() -> MonitoringTools:
    """The binaries, installing them first if needed; skips the test if impossible."""
    found = _tools_or_reason()
    if isinstance(found, str):
        pytest.skip(f"needs Prometheus and Alertmanager: {found}")
    return found
