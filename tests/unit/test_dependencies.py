"""Dependency floors above the published advisories, and locks with a hash for every file.

The advisories are listed here by hand (the advisory service is not reachable
from every machine; ``make audit`` asks it and fails when it cannot): the
version that fixed the last advisory known for each direct dependency.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

FIXED_IN = {
    # CVE-2024-56201, CVE-2024-56326, CVE-2025-27516: sandbox escapes.
    "jinja2": "3.1.6",
    # CVE-2024-23334, CVE-2024-30251, CVE-2024-52304, CVE-2025-53643 (request smuggling).
    "aiohttp": "3.12.14",
    # CVE-2024-27305, CVE-2024-34083: SMTP smuggling, STARTTLS injection (test server).
    "aiosmtpd": "1.4.6",
    # CVE-2024-12797 (bundled OpenSSL), GHSA-h4gh-qq45-vh27.
    "cryptography": "44.0.1",
    # CVE-2024-3772: regular expression denial of service.
    "pydantic": "2.4.0",
    # CVE-2024-5206: TfidfVectorizer keeps the stop words it learnt.
    "scikit-learn": "1.5.0",
    # CVE-2025-54412, CVE-2025-54413, CVE-2025-54886: untrusted types loaded.
    "skops": "0.13.0",
    # CVE-2020-14343: arbitrary code through full_load.
    "pyyaml": "5.4",
    # CVE-2025-59288: browsers downloaded without checking the certificate
    # (Corral never downloads one; the floor keeps that code out anyway).
    "playwright": "1.55.1",
}


def requirements() -> dict[str, Requirement]:
    found = [Requirement(text) for text in PROJECT["dependencies"]]
    for extra in PROJECT["optional-dependencies"].values():
        found += [Requirement(text) for text in extra]
    return {r.name.lower(): r for r in found}


@pytest.mark.parametrize(("name", "fixed"), sorted(FIXED_IN.items()))
def test_floor_is_at_or_above_the_last_fix(name: str, fixed: str) -> None:
    requirement = requirements()[name]
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    assert floors and min(floors) >= Version(fixed), f"{requirement} admits versions before {fixed}"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_locks_pin_every_package_with_hashes_at_or_above_the_floors(lock: str) -> None:
    text = (ROOT / lock).read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", text, re.MULTILINE))
    assert pins, f"{lock} pins nothing"
    blocks = re.split(r"^(?=[A-Za-z0-9_.-]+==)", text, flags=re.MULTILINE)[1:]
    for block in blocks:
        assert "--hash=sha256:" in block, f"{block.splitlines()[0]} has no hash"
    for name, fixed in FIXED_IN.items():
        if name in pins:
            assert Version(pins[name]) >= Version(fixed), f"{lock}: {name}=={pins[name]}"
    assert {"jinja2", "aiohttp", "google-re2", "bcrypt"} <= set(pins)


@pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "pip-audit").exists(), reason="needs make's .venv"
)
def test_make_audit_fails_when_the_advisory_service_is_unreachable() -> None:
    """An audit that could not ask anyone is a failure, never a quiet pass."""
    unreachable = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy",)}
    result = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "audit"],
        cwd=ROOT,
        env={**env, **unreachable},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "make audit: FAILED" in result.stderr
