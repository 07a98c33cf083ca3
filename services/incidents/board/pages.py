"""The board's pages: the incidents, one incident, its review.

Every page sits behind the worker's web security like the API (any
authenticated user may read; acting needs the admin role, which the API
checks again), and is sent with a Content-Security-Policy that allows only
this worker's own script and stylesheet: no inline script, no other origin,
no framing. The buttons post JSON to the incident API with the browser's
same-origin credentials, so a page elsewhere cannot make them act (see the
JSON-only rule in docs/security.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from services.incidents.api import PRIORITIES, BadParameter
from services.incidents.board.filters import BoardFilter
from services.incidents.board.live import LiveBoard
from services.incidents.config import IncidentsSettings
from services.incidents.feed import ChangeFeed
from services.incidents.review import build_review, render_review
from services.incidents.store import IncidentStore
from services.incidents.store.incidents import Listed
from services.incidents.templating import ENVIRONMENT
from services.incidents.times import human, now_ms, to_ms
from services.incidents.views import detail, shown
from shared.links import safe_link
from shared.web.config import Role
from shared.web.guard import ANY, PRINCIPAL, Access

STATIC = Path(__file__).parent / "static"
BOARD_PATH = "/"
INCIDENT_PAGE = "/incidents/{id}"
REVIEW_PAGE = "/incidents/{id}/review"
REVIEW_DOWNLOAD = "/incidents/{id}/review.md"
BOARD_EVENTS = "/board/events"
INCIDENT_EVENTS = "/incidents/{id}/events"
STATIC_PREFIX = "/static"

ACCESS: dict[str, Access] = {
    path: ANY
    for path in (
        BOARD_PATH,
        INCIDENT_PAGE,
        REVIEW_PAGE,
        REVIEW_DOWNLOAD,
        BOARD_EVENTS,
        INCIDENT_EVENTS,
        STATIC_PREFIX,
    )
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Links to Prometheus or a runbook must not carry the incident's URL along.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NOT_PAGES = ("/api/", "/-/", "/metrics")

_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Viewer:
    """Who looks at a page: ``name`` is None when authentication is off."""

    name: str | None
    can_act: bool

    @classmethod
    def of(cls, request: web.Request) -> Viewer:
        principal = request.get(PRINCIPAL)
        if principal is None:
            return cls(None, True)
        return cls(principal.name, Role.ADMIN in principal.roles)


def age_text(seconds: float) -> str:
    """How long an incident has been open, as the board says it (board.js says
    it the same way as the time goes on): ``<1m``, ``12m``, ``3h 05m``, ``2d 4h``:
    the review's durations in whole minutes."""
    if seconds < 60:
        return "<1m"
    return human(seconds // 60 * 60).removesuffix(" 00s")


def clock(value: str | None) -> str:
    """``2026-11-26T10:00:03.120Z`` as ``2026-11-26 10:00:03``."""
    return value[:19].replace("T", " ") if value else "—"


ENVIRONMENT.filters["age"] = age_text
ENVIRONMENT.filters["clock"] = clock


def member_links(member: dict[str, Any]) -> list[tuple[str, str]]:
    """The alert's http(s) links: its source, then every annotation that is a link."""
    links = []
    if source := safe_link(member.get("generator_url")):
        links.append(("source", source))
    for name, value in sorted(member.get("annotations", {}).items()):
        if url := safe_link(value):
            links.append((name.replace("_", " "), url))
    return links


class Board:
    def __init__(self, settings: IncidentsSettings, store: IncidentStore, feed: ChangeFeed):
        self.settings = settings
        self.store = store
        self.roles = settings.all_roles()
        self.live = LiveBoard(store, feed, self, settings.board.max_streams)
        self.assets: dict[str, str] = {}

    def install(self, app: web.Application) -> None:
        static = app.router.add_static(STATIC_PREFIX, STATIC, name="static", append_version=True)
        self.assets = {
            "css": str(static.url_for(filename="board.css")),
            "js": str(static.url_for(filename="board.js")),
            "icon": str(static.url_for(filename="icon.svg")),
        }
        app.add_routes(
            [
                web.get(BOARD_PATH, self.board),
                web.get(INCIDENT_PAGE, self.incident),
                web.get(REVIEW_PAGE, self.review),
                web.get(REVIEW_DOWNLOAD, self.review_markdown),
                web.get(BOARD_EVENTS, self.live.board_events),
                web.get(INCIDENT_EVENTS, self.live.incident_events),
            ]
        )
        app.on_response_prepare.append(_page_headers)
        app.on_shutdown.append(self.live.close)

    # What the live stream sends, rendered as the pages render it ------------

    def row_data(self, summary: dict[str, Any], now: int) -> dict[str, Any]:
        opened = to_ms(summary["opened_at"])
        return {
            **summary,
            # The board's order, as a string the script can compare: priority, then oldest.
            "rank": f"{summary['priority']}-{opened:015d}-{summary['id']}",
            "open_seconds": max(0, now - opened) / 1000,
        }

    def row(self, summary: dict[str, Any], now: int) -> str:
        macro = ENVIRONMENT.get_template("board/rows.html.j2").module.row  # type: ignore[attr-defined]
        return str(macro(self.row_data(summary, now), now)).strip()

    async def rows(self, board_filter: BoardFilter, now: int) -> tuple[list[dict[str, Any]], bool]:
        """The incidents a board shows now, in its order, and whether more matched."""
        found, more = await self.store.board(board_filter.query(self.settings.board.max_rows), now)
        return [self.row_data(shown(s, snoozed, now), now) for s, snoozed in found], more

    async def snapshot(self, board_filter: BoardFilter, now: int) -> dict[str, Any]:
        found, more = await self.rows(board_filter, now)
        return {"rows": [self.row(item, now) for item in found], "more": more}

    def shown_row(self, listed: Listed, now: int) -> tuple[dict[str, Any], str]:
        summary = shown(listed[0], listed[1], now)
        return summary, self.row(summary, now)

    # Pages --------------------------------------------------------------------

    def _page(
        self, request: web.Request, name: str, status: int = 200, **context: Any
    ) -> web.Response:
        text = ENVIRONMENT.get_template(name).render(
            viewer=Viewer.of(request), assets=self.assets, **context
        )
        return web.Response(text=text, status=status, content_type="text/html")

    def _error(self, request: web.Request, status: int, heading: str, message: str) -> web.Response:
        return self._page(
            request, "board/error.html.j2", status, code=status, heading=heading, message=message
        )

    async def board(self, request: web.Request) -> web.Response:
        try:
            board_filter = BoardFilter.from_query(request.query)
        except BadParameter as exc:
            return self._error(request, 422, "Not a filter this board knows", str(exc))
        now = now_ms()
        found, more = await self.rows(board_filter, now)
        return self._page(
            request,
            "board/board.html.j2",
            shown=found,
            more=more,
            max_rows=self.settings.board.max_rows,
            filter=board_filter,
            teams=await self.store.teams(),
            priorities=PRIORITIES,
            now_ms=now,
        )

    async def incident(self, request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        stored = await self.store.get(incident_id)
        if stored is None:
            return self._error(request, 404, "No such incident", f"No incident {incident_id!r}.")
        now = now_ms()
        shown_incident = detail(
            stored.incident, stored.lifecycle, stored.summary, stored.events, now
        )
        for member in shown_incident["members"]:
            member["links"] = member_links(member)
        return self._page(
            request,
            "board/incident.html.j2",
            i=shown_incident,
            roles=self.roles,
            open_seconds=max(0, now - to_ms(shown_incident["opened_at"])) / 1000,
        )

    async def review(self, request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        stored = await self.store.get(incident_id)
        if stored is None:
            return self._error(request, 404, "No such incident", f"No incident {incident_id!r}.")
        return self._page(request, "board/review.html.j2", r=build_review(stored, now_ms()))

    async def review_markdown(self, request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        stored = await self.store.get(incident_id)
        if stored is None:
            return self._error(request, 404, "No such incident", f"No incident {incident_id!r}.")
        text = render_review(build_review(stored, now_ms()), "markdown")
        filename = f"review-{_FILENAME.sub('_', incident_id)[:100]}.md"
        return web.Response(
            text=text,
            content_type="text/markdown",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


async def _page_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The pages' security headers; the API's answers are JSON and keep theirs."""
    if request.path.startswith(NOT_PAGES):
        return
    response.headers.update(PAGE_HEADERS)
    if not request.path.startswith(STATIC_PREFIX + "/"):
        # Incidents are not for shared caches, nor for the back button of a shared machine.
        response.headers["Cache-Control"] = "no-store"
