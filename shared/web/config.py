"""The web configuration file, in the format Prometheus and Alertmanager read.

``--web.config.file`` (or ``web.config_file`` in Corral's config) names a
YAML file in the exporter-toolkit format Prometheus users already write::

    tls_server_config:
      cert_file: /etc/corral/tls/tls.crt
      key_file: /etc/corral/tls/tls.key
      client_ca_file: /etc/corral/tls/ca.crt        # mTLS
      client_auth_type: RequireAndVerifyClientCert
      min_version: TLS12
    basic_auth_users:                               # bcrypt hashes
      alertmanager: $2y$10$...
      oncall: $2y$10$...

plus two additions of Corral's own, which Prometheus' tools do not know:
``bearer_tokens`` (what Prometheus' and Alertmanager's ``authorization:
{credentials}`` sends) and ``roles``, which keep an alert sender away from
the administrative APIs::

    bearer_tokens:
      prometheus: {token_file: /etc/corral/secrets/prometheus.token}
      grafana: {sha256: 9f86d08...}                # hex SHA-256 of the token
    roles:
      alertmanager: [alerts]
      prometheus: [alerts, metrics]
      oncall: [admin, metrics]

Without ``roles`` every user has every role, as in Prometheus. Problems are
reported with the file and line, and never with a hash or token in them.
"""

from __future__ import annotations

import enum
import hashlib
import re
import ssl
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from shared.config import ConfigError, StrictModel, read_yaml, validate


class Role(enum.StrEnum):
    ALERTS = "alerts"
    """Send alerts: ingest's Alertmanager webhook and ``/api/v2/alerts``."""
    ADMIN = "admin"
    """The administrative APIs: silences, feedback on incidents."""
    METRICS = "metrics"
    """Read ``/metrics`` and the API description."""


ClientAuthType = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def _readable(path: str | None) -> str | None:
    if path is not None and not Path(path).is_file():
        raise ValueError(f"file {path!r} does not exist or is not readable")
    return path


class TlsServerConfig(StrictModel):
    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    client_auth_type: ClientAuthType = "NoClientCert"
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS13"

    _files = field_validator("cert_file", "key_file", "client_ca_file")(_readable)

    @model_validator(mode="after")
    def _client_auth(self) -> Self:
        if self.client_auth_type in ("RequestClientCert", "RequireAnyClientCert"):
            # Go can ask for a certificate it then does not check; Python's
            # ssl cannot, and an unchecked certificate proves nothing anyway.
            raise ValueError(
                f"client_auth_type {self.client_auth_type} is not supported (a certificate "
                "nobody verifies proves nothing): use VerifyClientCertIfGiven or "
                "RequireAndVerifyClientCert with client_ca_file"
            )
        verifies = self.client_auth_type != "NoClientCert"
        if verifies and self.client_ca_file is None:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if self.client_ca_file is not None and not verifies:
            raise ValueError(
                "client_ca_file is set but client_auth_type is NoClientCert: "
                "set client_auth_type RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"
            )
        if TLS_VERSIONS[self.min_version] > TLS_VERSIONS[self.max_version]:
            raise ValueError("min_version is above max_version")
        return self


class BearerToken(StrictModel):
    token_file: str | None = Field(default=None, description="File holding the token itself.")
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Hex SHA-256 of the token, so this file holds no secret.",
    )

    _file = field_validator("token_file")(_readable)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.token_file is None) == (self.sha256 is None):
            raise ValueError("give exactly one of token_file and sha256")
        return self

    def digest(self) -> bytes:
        """SHA-256 of the token; read from ``token_file`` each time it is asked."""
        if self.sha256 is not None:
            return bytes.fromhex(self.sha256)
        assert self.token_file is not None
        token = Path(self.token_file).read_text().strip()
        if not token:
            raise ConfigError([f"{self.token_file}: the bearer token file is empty"])
        return hashlib.sha256(token.encode()).digest()


BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$")


def _bcrypt(hashed: str) -> str:
    if not BCRYPT_HASH.match(hashed):
        # The value itself is left out of the message on purpose.
        raise ValueError(
            "not a bcrypt hash (make one with `corral web hash-password` or htpasswd -nBC 10)"
        )
    return hashed


class WebConfig(StrictModel):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, Annotated[str, AfterValidator(_bcrypt)]] = Field(
        default_factory=dict
    )
    bearer_tokens: dict[str, BearerToken] = Field(default_factory=dict)
    roles: dict[str, list[Role]] | None = None

    @model_validator(mode="after")
    def _principals(self) -> Self:
        both = set(self.basic_auth_users) & set(self.bearer_tokens)
        if both:
            raise ValueError(f"names used both as user and as token: {sorted(both)}")
        if self.roles is not None:
            known = set(self.basic_auth_users) | set(self.bearer_tokens)
            unknown = sorted(set(self.roles) - known)
            if unknown:
                raise ValueError(f"roles names unknown users or tokens: {unknown}")
            roleless = sorted(known - {name for name, roles in self.roles.items() if roles})
            if roleless:
                raise ValueError(f"users or tokens without a role in roles: {roleless}")
        return self

    @property
    def authenticates(self) -> bool:
        return bool(self.basic_auth_users or self.bearer_tokens)

    def roles_of(self, name: str) -> frozenset[Role]:
        if self.roles is None:
            return frozenset(Role)
        return frozenset(self.roles.get(name, ()))


def load_web_config(path: str | Path | None) -> WebConfig:
    """The web config at ``path``; no file means no TLS and no authentication."""
    if not path:
        return WebConfig()
    return validate(WebConfig, read_yaml(path))
