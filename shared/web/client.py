"""Calling a protected worker: Prometheus' ``http_config`` format, client side.

``corral silence --http.config.file FILE`` reads the same YAML that
``amtool --http.config.file`` and Prometheus' scrape and alerting configs
take::

    basic_auth: {username: admin, password_file: /etc/corral/admin.password}
    # or: authorization: {type: Bearer, credentials_file: /etc/corral/token}
    tls_config:
      ca_file: /etc/corral/tls/ca.crt
      cert_file: /etc/corral/tls/client.crt     # mTLS
      key_file: /etc/corral/tls/client.key
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ssl
from pathlib import Path
from typing import Any, Self

import aiohttp
from pydantic import model_validator

from shared.config import StrictModel, read_yaml, validate
from shared.secrets import secret


class BasicAuth(StrictModel):
    """HTTP basic authentication, as a user of the worker's web config."""

    username: str
    """The user."""
    password: str | None = None
    """Its password (prefer `password_file`)."""
    password_file: str | None = None


class Authorization(StrictModel):
    """An Authorization header on every request."""

    type: str = "Bearer"
    """The scheme in front of the credentials."""
    credentials: str | None = None
    """The token (prefer `credentials_file`)."""
    credentials_file: str | None = None


class ClientTls(StrictModel):
    """TLS towards a worker that serves HTTPS."""

    ca_file: str | None = None
    """CA certificates to verify the worker's certificate with (default: the system's)."""
    cert_file: str | None = None
    """Client certificate, for a worker that requires one (mTLS)."""
    key_file: str | None = None
    """The client certificate's private key."""
    insecure_skip_verify: bool = False
    """Do not verify the worker's certificate (tests only)."""


class HttpClientConfig(StrictModel):
    """Prometheus' `http_config`, client side: how to authenticate to a worker."""

    basic_auth: BasicAuth | None = None
    """A user and password; or `authorization`, not both."""
    authorization: Authorization | None = None
    """A bearer token; or `basic_auth`, not both."""
    tls_config: ClientTls = ClientTls()
    """TLS settings."""

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.basic_auth is not None and self.authorization is not None:
            raise ValueError("give basic_auth or authorization, not both")
        return self

    def headers(self) -> dict[str, str]:
        if self.basic_auth is not None:
            auth = self.basic_auth
            password = secret(auth.password, auth.password_file, "basic_auth.password")
            pair = f"{auth.username}:{password() if password else ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if self.authorization is not None:
            auth_ = self.authorization
            credentials = secret(auth_.credentials, auth_.credentials_file, "credentials")
            if credentials is not None:
                return {"Authorization": f"{auth_.type} {credentials()}"}
        return {}

    def ssl_context(self) -> ssl.SSLContext:
        tls = self.tls_config
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file is not None:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def load_client_config(path: str | Path | None) -> HttpClientConfig:
    return validate(HttpClientConfig, read_yaml(path)) if path else HttpClientConfig()


def add_api_arguments(parser: argparse.ArgumentParser, worker: str) -> argparse.ArgumentParser:
    """``--url`` and ``--http.config.file`` for a command that calls a worker's API."""
    parser.add_argument(
        "--url",
        help=f"a {worker} worker's API (default: http:// plus {worker}.listen of the config)",
    )
    parser.add_argument(
        "--http.config.file",
        dest="http_config_file",
        metavar="PATH",
        help="credentials and TLS for the API, in Prometheus' http_config format "
        "(basic_auth, authorization, tls_config), as amtool takes it",
    )
    return parser


def local_url(listen: str) -> str:
    """Where a worker listening on ``listen`` is reached from this machine."""
    host, _, port = listen.rpartition(":")
    return f"http://{host if host not in ('', '0.0.0.0') else '127.0.0.1'}:{port}"


def call_api(
    url: str, method: str, http_config_file: str | None, body: dict[str, Any] | None = None
) -> tuple[int, bytes]:
    """One request to a worker's API, as a command line tool makes it: status and body,
    or ``SystemExit`` naming the URL when the worker cannot be reached."""
    client = load_client_config(http_config_file)

    async def call() -> tuple[int, bytes]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                url,
                json=body,
                headers=client.headers(),
                ssl=client.ssl_context() if url.startswith("https:") else False,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response,
        ):
            return response.status, await response.read()

    try:
        return asyncio.run(call())
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SystemExit(f"error: cannot reach {url}: {exc}") from None
