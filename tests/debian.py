"""Installing the Debian packages a test needs (as root, with apt-get) when they are missing."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

INSTALL_TIMEOUT_SECONDS = 600
# `make test` runs several test processes; apt-get refuses to run beside itself.
LOCK = Path(tempfile.gettempdir()) / "corral-tests-apt.lock"


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


def install(*packages: str) -> str | None:
    """Install the packages; None on success, else why not."""
    if not shutil.which("apt-get"):
        return "apt-get not found (not a Debian-like system)"
    if os.geteuid() != 0:
        return f"not root, cannot run apt-get install {' '.join(packages)}"
    command = ("install", "-y", "--no-install-recommends", *packages)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        result = _apt_get(*command)
        if result.returncode != 0:
            # A fresh machine has no package lists yet.
            _apt_get("update")
            result = _apt_get(*command)
    if result.returncode != 0:
        return f"apt-get install {' '.join(packages)} failed: {result.stderr.strip()[-500:]}"
    return None
