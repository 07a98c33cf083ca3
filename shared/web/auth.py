"""Who is asking: HTTP basic auth against bcrypt hashes, and bearer tokens.

As in Prometheus' exporter-toolkit: a user that does not exist costs the same
bcrypt comparison as a wrong password (against a dummy hash), so response
times do not tell which user names exist; a successful check is cached
(keyed by a hash of user, stored hash and password, never the password
itself), so a sender posting every second does not pay bcrypt every time.
bcrypt runs in worker threads, a few at a time, never on the event loop.
Bearer tokens are compared as SHA-256 digests with ``hmac.compare_digest``,
against every configured token, so the time taken does not depend on which
token (or how much of one) matched.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass

import bcrypt

from shared.web.config import Role, WebConfig

CACHE_SIZE = 1024
BCRYPT_CONCURRENCY = 2


class Refusal(enum.StrEnum):
    """Why a request was not authenticated; the label of the refusal counter."""

    MISSING = "unauthenticated"
    INVALID = "bad_credentials"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[Role]


@dataclass(frozen=True)
class Credentials:
    """What one web config lets in; replaced whole when the file changes."""

    config: WebConfig
    hashes: dict[str, bytes]
    tokens: list[tuple[str, bytes]]
    dummy: bytes

    @classmethod
    def of(cls, config: WebConfig) -> Credentials:
        """Reads the token files, and pays one bcrypt hash: not on the event loop
        once the worker runs."""
        hashes = {user: hashed.encode() for user, hashed in config.basic_auth_users.items()}
        tokens = [(name, token.digest()) for name, token in config.bearer_tokens.items()]
        dummy = b""
        if hashes:
            # Same cost as a real hash, so an unknown user takes as long.
            cost = next(iter(hashes.values()))[4:6]
            dummy = bcrypt.hashpw(b"dummy", b"$2b$" + cost + bcrypt.gensalt()[6:])
        return cls(config, hashes, tokens, dummy)


class Authenticator:
    def __init__(self, config: WebConfig):
        self._bcrypt = asyncio.Semaphore(BCRYPT_CONCURRENCY)
        self.use(Credentials.of(config))

    def use(self, credentials: Credentials) -> None:
        """Take other users, tokens and roles (the web config file changed), so a
        rotated password or a revoked token needs no restart."""
        self._credentials = credentials
        self._cache: OrderedDict[bytes, str] = OrderedDict()

    @property
    def config(self) -> WebConfig:
        return self._credentials.config

    @property
    def enabled(self) -> bool:
        return self.config.authenticates

    @property
    def schemes(self) -> list[str]:
        config = self.config
        return (["Basic"] if config.basic_auth_users else []) + (
            ["Bearer"] if config.bearer_tokens else []
        )

    def principal(self, name: str) -> Principal:
        return Principal(name, self.config.roles_of(name))

    async def authenticate(self, header: str | None) -> Principal | Refusal:
        if not header:
            return Refusal.MISSING
        scheme, _, credentials = header.strip().partition(" ")
        scheme = scheme.lower()
        known = self._credentials
        if scheme == "basic" and known.hashes:
            return await self._basic(known, credentials.strip())
        if scheme == "bearer" and known.tokens:
            return self._bearer(known, credentials.strip())
        return Refusal.INVALID

    def _bearer(self, known: Credentials, token: str) -> Principal | Refusal:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for name, expected in known.tokens:
            if hmac.compare_digest(digest, expected):
                found = name
        return Refusal.INVALID if found is None else self.principal(found)

    async def _basic(self, known: Credentials, credentials: str) -> Principal | Refusal:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return Refusal.INVALID
        user, sep, password = decoded.partition(":")
        if not sep:
            return Refusal.INVALID
        hashed = known.hashes.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), hashed or b"", password.encode()))).digest()
        if hashed is not None and self._cache.get(key) == user:
            self._cache.move_to_end(key)
            return self.principal(user)
        async with self._bcrypt:
            ok = await asyncio.to_thread(
                _checkpw, password.encode(), hashed if hashed is not None else known.dummy
            )
        if not ok or hashed is None:
            return Refusal.INVALID
        self._cache[key] = user
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return self.principal(user)


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # longer than bcrypt's 72 bytes: no stored hash can match it
        return False
