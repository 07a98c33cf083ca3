"""The middleware every request to a worker passes before it reaches an API.

In order: authentication and the route's role (401 with ``WWW-Authenticate``,
or 403), then the media type of a body (415 unless ``application/json``, so
a browser cannot post to an API cross-site: a form or a ``text/plain``
``fetch`` cannot send that type without a CORS preflight, which is never
answered), then the body's size (413 before it is read when
``Content-Length`` says so, and when reading it overruns). Errors are the
workers' JSON error bodies; every refusal is counted
(``corral_http_requests_refused_total``).

Health endpoints (``/-/healthy``, ``/-/ready``) stay open, so load balancers
and Kubernetes probes need no credentials; ``/metrics`` needs the
``metrics`` role once authentication is on.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from aiohttp import web

from shared.config import ConfigError
from shared.web.auth import Authenticator, Credentials, Principal, Refusal
from shared.web.config import Role, WebConfig, load_web_config
from shared.web.errors import error_response
from shared.web.metrics import HTTP_REFUSED
from shared.web.tls import server_context

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FILE_CHECK_SECONDS = 30.0
OnRefused = Callable[[web.Request, str], None]

OPEN = "open"
ANY = "any"
"""Any authenticated caller, whatever its roles."""


@dataclass(frozen=True)
class ReadWrite:
    """A route whose reads (GET, HEAD) and writes need different roles."""

    read: Role | str
    write: Role | str


Access = Role | str | ReadWrite
"""A route's role, ``OPEN`` or ``ANY``, or one for reads and one for writes."""

COMMON_ACCESS: dict[str, Access] = {
    "/-/healthy": OPEN,
    "/-/ready": OPEN,
    "/metrics": Role.METRICS,
    "/api/openapi.json": ANY,
}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
PRINCIPAL = web.RequestKey("corral_principal", Principal)
"""Who the request authenticated as, when authentication is on."""


@dataclass
class Guard:
    """The rules for one app: who may call each route, how large a body may be."""

    authenticator: Authenticator
    access: Mapping[str, Access]
    max_body_bytes: int
    body_setting: str
    on_refused: OnRefused | None = None
    media_types: Mapping[str, str] = field(default_factory=dict)
    """Routes that take another body than JSON (Slack posts forms), by route."""

    def _access(self, request: web.Request) -> Role | str:
        resource = request.match_info.route.resource
        if resource is None:
            return ANY  # no such route: a 404 only for those who may ask
        access = self.access.get(resource.canonical, COMMON_ACCESS.get(resource.canonical, ANY))
        if isinstance(access, ReadWrite):
            return access.read if request.method in ("GET", "HEAD") else access.write
        return access

    def _refuse(self, request: web.Request, reason: str, response: web.Response) -> web.Response:
        HTTP_REFUSED.labels(reason).inc()
        if self.on_refused is not None:
            self.on_refused(request, reason)
        return response

    def _challenge(self) -> dict[str, str]:
        # aiohttp folds one header per name; schemes are listed comma-separated, as RFC 9110 allows.
        return {
            "WWW-Authenticate": ", ".join(f'{s} realm="corral"' for s in self.authenticator.schemes)
        }

    async def _authorize(self, request: web.Request) -> web.Response | None:
        access = self._access(request)
        if access == OPEN or not self.authenticator.enabled:
            return None
        found = await self.authenticator.authenticate(request.headers.get("Authorization"))
        if isinstance(found, Refusal):
            message = "authentication required" if found is Refusal.MISSING else "wrong credentials"
            return self._refuse(
                request,
                found.value,
                error_response(401, message, field="Authorization", headers=self._challenge()),
            )
        if access != ANY and access not in found.roles:
            return self._refuse(
                request,
                Refusal.FORBIDDEN.value,
                error_response(
                    403, f"{found.name!r} does not have the {access} role", field="Authorization"
                ),
            )
        request[PRINCIPAL] = found
        return None

    def _media_type(self, request: web.Request) -> str:
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else ""
        return self.media_types.get(canonical, "application/json")

    def _too_large(self, request: web.Request) -> web.Response:
        return self._refuse(
            request,
            "too_large",
            error_response(
                413,
                f"body larger than {self.max_body_bytes} bytes ({self.body_setting})",
                field="(body)",
            ),
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = await self._authorize(request)
        if refused is not None:
            return refused
        routed = request.match_info.http_exception is None
        if routed and request.method in BODY_METHODS:
            expected = self._media_type(request)
            if request.content_type != expected:
                return self._refuse(
                    request,
                    "media_type",
                    error_response(
                        415,
                        f"unsupported Content-Type {request.content_type!r}: send {expected}",
                        field="Content-Type",
                    ),
                )
            if (request.content_length or 0) > self.max_body_bytes:
                return self._too_large(request)
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return self._too_large(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_response(exc.status, exc.reason, headers=_allow(exc))


Stamp = tuple[tuple[int, int] | None, ...]
"""Inode and modification time of each file watched (None: missing)."""


def _stamp(paths: Iterable[str | None]) -> Stamp:
    stamps: list[tuple[int, int] | None] = []
    for path in paths:
        if path is None:
            continue
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            stamps.append(None)
            continue
        stamps.append((stat.st_ino, stat.st_mtime_ns))
    return tuple(stamps)


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None


@dataclass
class WebSecurity:
    """One process's web configuration, loaded once: TLS context and authenticator."""

    config: WebConfig = field(default_factory=WebConfig)
    path: str | None = None

    def __post_init__(self) -> None:
        self.authenticator = Authenticator(self.config)
        tls = self.config.tls_server_config
        self.ssl_context: ssl.SSLContext | None = None
        self._stamp: Stamp = ()
        self._config_stamp = self._web_config_stamp()
        if tls is not None:
            self.ssl_context = server_context(tls)
            self._stamp = self._certificate_stamp()

    def _certificate_stamp(self) -> Stamp:
        tls = self.config.tls_server_config
        assert tls is not None
        return _stamp((tls.cert_file, tls.key_file, tls.client_ca_file))

    def _web_config_stamp(self) -> Stamp:
        tokens = (token.token_file for token in self.config.bearer_tokens.values())
        return _stamp((self.path, *tokens))

    async def reload_config(self) -> bool:
        """Take the users, tokens and roles again if the web config file or a
        token file changed, as Prometheus' exporter-toolkit does; a file that
        does not load keeps what was loaded (and is retried at the next look).
        TLS settings need a restart; their files are reloaded on their own."""
        if self.path is None:
            return False
        path = self.path

        def load() -> tuple[Stamp, Credentials] | None:
            if self._web_config_stamp() == self._config_stamp:
                return None
            # Each file stamped before it is read: a change while reading is seen next time.
            head = _stamp((path,))
            config = load_web_config(path)
            tokens = _stamp(token.token_file for token in config.bearer_tokens.values())
            return head + tokens, Credentials.of(config)

        try:
            loaded = await asyncio.to_thread(load)
        except (OSError, ConfigError) as exc:
            log.warning("web config not reloaded; keeping the loaded one", error=str(exc))
            return False
        if loaded is None:
            return False
        stamp, credentials = loaded
        config = credentials.config
        if config.tls_server_config != self.config.tls_server_config:
            log.warning("web config: TLS settings changed; they apply after a restart")
        self.authenticator.use(credentials)
        self.config = config.model_copy(update={"tls_server_config": self.config.tls_server_config})
        self._config_stamp = stamp
        log.info("web config reloaded", path=path, users=len(config.basic_auth_users))
        return True

    def reload_certificates(self) -> bool:
        """Load certificate, key and client CA again if a file changed (cert-manager
        and Kubernetes rewrite them in place); new connections get them, open ones
        keep theirs. A half-written pair is retried at the next look."""
        tls = self.config.tls_server_config
        if tls is None or self.ssl_context is None:
            return False
        try:
            stamp = self._certificate_stamp()
            if stamp == self._stamp:
                return False
            self.ssl_context.load_cert_chain(tls.cert_file, tls.key_file)
            if tls.client_ca_file is not None:
                self.ssl_context.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            log.warning("TLS certificate not reloaded; keeping the loaded one", error=str(exc))
            return False
        self._stamp = stamp
        log.info("TLS certificate reloaded", cert_file=tls.cert_file)
        return True

    async def watch(self, interval: float = FILE_CHECK_SECONDS) -> None:
        """Look for changed files every ``interval``: certificates, web config, tokens."""
        while True:
            await asyncio.sleep(interval)
            self.reload_certificates()
            await self.reload_config()

    @classmethod
    def load(cls, path: str | Path | None) -> WebSecurity:
        return cls(load_web_config(path), str(path) if path else None)

    @property
    def client_auth(self) -> str:
        tls = self.config.tls_server_config
        return tls.client_auth_type if tls is not None else "off"

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    def application(
        self,
        access: Mapping[str, Access],
        max_body_bytes: int,
        body_setting: str,
        on_refused: OnRefused | None = None,
        media_types: Mapping[str, str] | None = None,
    ) -> web.Application:
        """An app whose every request passes the guard; add its routes after."""
        guard = Guard(
            self.authenticator, access, max_body_bytes, body_setting, on_refused, media_types or {}
        )
        return web.Application(client_max_size=max_body_bytes, middlewares=[guard.middleware])
