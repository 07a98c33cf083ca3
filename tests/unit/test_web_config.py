"""The web config file, the secrets of the notify config, and check-config's silence about them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import ConfigError
from shared.secrets import redact, remember
from shared.web.commands import hash_password
from shared.web.config import Role, load_web_config


def write(tmp_path: Path, text: str, name: str = "web.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_prometheus_format_with_roles(tmp_path: Path) -> None:
    hashed = hash_password("pw", cost=4)
    config = load_web_config(
        write(
            tmp_path,
            f"basic_auth_users:\n  am: {hashed}\n  ops: {hashed}\n"
            "roles:\n  am: [alerts]\n  ops: [admin, metrics]\n",
        )
    )
    assert config.roles_of("am") == {Role.ALERTS}
    assert config.roles_of("ops") == {Role.ADMIN, Role.METRICS}


def test_without_roles_every_user_has_every_role(tmp_path: Path) -> None:
    config = load_web_config(write(tmp_path, f"basic_auth_users:\n  am: {hash_password('p', 4)}\n"))
    assert config.roles_of("am") == set(Role)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "basic_auth_users:\n  am: plaintext-password\n",
            r"web.yml:2: basic_auth_users.am: .*not a bcrypt hash",
        ),
        ("tls_server_config:\n  cert_file: /nope.crt\n  key_file: /nope.key\n", r"web.yml:\d"),
        ("basic_auth_user: {}\n", r"web.yml:1: basic_auth_user: unknown field"),
        ("bearer_tokens:\n  t: {sha256: abc}\n", r"web.yml:2: .*sha256"),
        ("roles:\n  ghost: [admin]\n", r"unknown users or tokens: \['ghost'\]"),
    ],
)
def test_problems_name_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as raised:
        load_web_config(write(tmp_path, text))
    assert "plaintext-password" not in str(raised.value)


def test_unverified_client_certificates_are_refused(tmp_path: Path) -> None:
    cert = write(tmp_path, "x", "c.crt")
    text = (
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {cert}\n"
        "  client_auth_type: RequireAnyClientCert\n"
    )
    with pytest.raises(ConfigError, match="not supported"):
        load_web_config(write(tmp_path, text))


def test_redact_cuts_urls_and_remembered_secrets() -> None:
    remember("hunter2-token")
    text = "POST https://hooks.slack.com/services/T/B/abc?x=1 failed; key hunter2-token"
    assert redact(text) == "POST https://hooks.slack.com/<secret> failed; key <secret>"
    assert redact("http://user:pw@host:8080") == "http://host:8080"
    assert redact("connect to http://127.0.0.1:9093") == "connect to http://127.0.0.1:9093"


def test_check_config_never_prints_a_secret(tmp_path: Path) -> None:
    planted = "planted-routing-key-0xdeadbeef"
    config = write(
        tmp_path,
        "notify:\n  receivers:\n    - name: pager\n      pagerduty_configs:\n"
        f"        - routing_key: {planted}\n          routing_key_file: /run/secrets/key\n"
        f"          url: 'https://events.pagerduty.com/{planted}/x y'\n"
        "  route: {receiver: pager}\n",
        "corral.yml",
    )
    result = subprocess.run(
        [sys.executable, "-m", "services.corral.cli", "check-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "corral.yml:5" in result.stderr  # the problem is named...
    assert planted not in result.stdout + result.stderr  # ...the secret never
