"""Secrets from files, and keeping secrets out of logs, errors and dead letters.

Every secret field of the config has a ``*_file`` twin, as Alertmanager has
``api_url_file`` and ``password_file``: on Kubernetes the file is a mounted
Secret, never a ConfigMap. A file is read when the worker starts (a missing or
empty one stops it with the path named) and read again whenever it changes
(Kubernetes swaps a mounted Secret's files on update), so a rotated token is
used without a restart.

Every secret value read, inline or from a file, is remembered by ``redact``,
which replaces it in any text with ``<secret>``; ``redact`` also cuts every
URL in a text down to its scheme and host, since a webhook or Slack URL
carries its token in the path or query. Receiver errors (and so dead letters)
and every log line pass through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import structlog

from shared.config import ConfigError

log = structlog.get_logger(__name__)

REDACTED = "<secret>"
MIN_SECRET_LENGTH = 4
"""Shorter values would blank out ordinary words; no real secret is that short."""

_known: list[str] = []
"""Longest first, so a secret containing another is replaced whole."""
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^@/\s'\"<>]*@)?([^/\s'\"<>?#]+)[^\s'\"<>]*")


def remember(value: str) -> str:
    """Mark a value as secret from now on; returns it unchanged."""
    if len(value) >= MIN_SECRET_LENGTH and value not in _known:
        _known.append(value)
        _known.sort(key=len, reverse=True)
    return value


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced and every URL cut to its host."""
    text = _URL.sub(_host_only, text)
    for secret in _known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _host_only(match: re.Match[str]) -> str:
    scheme, host = match.group(1), match.group(2)
    return scheme + host if match.end(2) == match.end(0) else f"{scheme}{host}/{REDACTED}"


class SecretFile:
    """A secret kept in a file: read now, and again whenever the file changes."""

    def __init__(self, path: str, field: str):
        self.path = path
        self.field = field
        self._stamp: tuple[int, int, int] | None = None
        self._value = ""
        self.get()

    def _read(self) -> str:
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return self._value
            value = Path(self.path).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            return self._keep(f"{self.field}: {self.path}: cannot read: {reason}")
        if not value:
            return self._keep(f"{self.field}: {self.path} is empty")
        self._stamp, self._value = stamp, remember(value)
        return value

    def _keep(self, problem: str) -> str:
        """At start a bad file stops the worker; later, the last good value stays
        in use (a Secret being rewritten is briefly missing) and a warning says why."""
        if self._stamp is None:
            raise ConfigError([problem])
        log.warning("secret file unreadable; keeping its last value", problem=problem)
        return self._value

    def get(self) -> str:
        return self._read()


Secret = Callable[[], str]
"""Gives the secret's current value."""


def secret(value: str | None, path: str | None, field: str) -> Secret | None:
    """The secret of a ``field``/``field_file`` pair, or None when neither is set."""
    if path is not None:
        return SecretFile(path, f"{field}_file").get
    if value is not None:
        remember(value)
        return lambda: value
    return None
