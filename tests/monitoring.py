"""Debian's Prometheus and Alertmanager for the tests, installed when missing.

The real programs are the point of the tests that use them, so a test does
not fake them: it installs the Debian packages (as root, with apt-get) and
skips, saying why, only when that is impossible.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest

PACKAGES = ("prometheus", "prometheus-alertmanager")
INSTALL_TIMEOUT_SECONDS = 600


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


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", "-q", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
        check=False,
    )


def _install() -> str | None:
    """Install the packages; None on success, else why not."""
    if not shutil.which("apt-get"):
        return "apt-get not found (not a Debian-like system)"
    if os.geteuid() != 0:
        return f"not root, cannot run apt-get install {' '.join(PACKAGES)}"
    install = ("install", "-y", "--no-install-recommends", *PACKAGES)
    result = _apt_get(*install)
    if result.returncode != 0:
        # A fresh machine has no package lists yet.
        _apt_get("update")
        result = _apt_get(*install)
    if result.returncode != 0:
        return f"apt-get install {' '.join(PACKAGES)} failed: {result.stderr.strip()[-500:]}"
    return None


@functools.cache
def _tools_or_reason() -> MonitoringTools | str:
    tools = _find()
    if tools is not None:
        return tools
    problem = _install()
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
