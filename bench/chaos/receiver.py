"""The webhook receivers notify pages: each records what it took, and can fail on demand."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from aiohttp import web

from shared.service import bound_port, start_http


@dataclass(frozen=True)
class Page:
    """One notification a receiver took (answered 2xx)."""

    path: str
    incident: str
    revision: int
    status: str
    repeat: bool
    key: str
    at: float


@dataclass
class Receivers:
    """One HTTP server; each path is a receiver (a webhook integration of notify)."""

    paths: tuple[str, ...] = ("/oncall", "/team")
    failing: bool = False
    pages: list[Page] = field(default_factory=list)
    refused: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    async def _take(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        if self.failing:
            self.refused += 1
            return web.json_response({"ok": False}, status=500)
        self.pages.append(
            Page(
                request.path,
                body["id"],
                body["revision"],
                body["status"],
                body.get("repeat", False),
                request.headers.get("Idempotency-Key", ""),
                time.monotonic(),
            )
        )
        return web.json_response({"ok": True})

    async def start(self) -> Receivers:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        for path in self.paths:
            app.router.add_post(path, self._take)
        self._runner = await start_http(app, "127.0.0.1:0")
        self.port = bound_port(self._runner)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
