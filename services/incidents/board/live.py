"""The board, live: the store's change feed pushed to browsers as Server-Sent Events.

One task per worker follows the change feed for every open page. It reads
each changed incident once, renders its row once (the same template the page
used), and hands each board the rows its filter wants, or the ids it no
longer shows; an incident page hears that its incident changed and fetches
itself again. Every stream starts with a snapshot of its board, taken by
that same task, so that no change falls between the page and the stream and
nothing older can arrive after it. A page that cannot keep up (its queue
full) gets a new snapshot instead of what it missed; a dropped connection
reconnects (the browser's EventSource does, ``retry:``) and starts with a
snapshot again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from services.incidents.api import BadParameter
from services.incidents.board.filters import BoardFilter
from services.incidents.feed import ChangeFeed
from services.incidents.store import IncidentStore
from services.incidents.store.database import TRANSIENT
from services.incidents.times import now_ms
from shared.web.errors import error_response

if TYPE_CHECKING:
    from services.incidents.board.pages import Board

log = structlog.get_logger(__name__)

KEEPALIVE_SECONDS = 15.0
"""A comment line this often: proxies keep the connection, and a gone browser is noticed."""
MIN_INTERVAL_SECONDS = 0.1
"""At most this many pushes a second: a storm's changes are sent together."""
RETRY_MILLISECONDS = 2000
QUEUE_SIZE = 256


def event(name: str, data: dict[str, Any]) -> bytes:
    """One Server-Sent Event; JSON keeps the data on one line."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Stream:
    """One open page: a board with its filter, or one incident's page."""

    def __init__(self, board_filter: BoardFilter | None = None, incident_id: str | None = None):
        self.board_filter = board_filter
        self.incident_id = incident_id
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)
        self.stale = False

    def send(self, message: bytes) -> None:
        if self.queue.full():
            # What it missed is replaced by a snapshot (boards) or is one
            # more "changed" (incident pages, which fetch themselves anyway).
            self.stale = True
            return
        self.queue.put_nowait(message)

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class TooMany(Exception):
    pass


class LiveBoard:
    def __init__(self, store: IncidentStore, feed: ChangeFeed, board: Board, max_streams: int):
        self.store = store
        self.feed = feed
        self.board = board
        self.max_streams = max_streams
        self.streams: set[Stream] = set()
        self._joining: list[Stream] = []
        self._changed: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # Streams come and go ---------------------------------------------------------

    @contextlib.contextmanager
    def connected(self, stream: Stream) -> Iterator[None]:
        if self._closing or len(self.streams) + len(self._joining) >= self.max_streams:
            raise TooMany
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="live-board")
        if stream.board_filter is not None:
            self._joining.append(stream)  # its snapshot first, from the push task
            self._wake.set()
        else:
            self.streams.add(stream)
        try:
            yield
        finally:
            self.streams.discard(stream)
            if stream in self._joining:
                self._joining.remove(stream)

    async def close(self, _: web.Application | None = None) -> None:
        """Ends every stream (the worker is stopping: they reconnect to another)."""
        self._closing = True
        for stream in [*self.streams, *self._joining]:
            stream.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # The push task ---------------------------------------------------------------

    async def _run(self) -> None:
        with self.feed.subscribe() as subscription:
            follow = asyncio.create_task(self._follow(subscription))
            try:
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    try:
                        await self._push()
                    except TRANSIENT as exc:
                        # The pages keep what they show, and get a snapshot once
                        # the store answers again.
                        log.warning("live board: the store does not answer", error=str(exc))
                        await asyncio.sleep(RETRY_MILLISECONDS / 1000)
                        self._resync()
                    await asyncio.sleep(MIN_INTERVAL_SECONDS)
            finally:
                follow.cancel()

    async def _follow(self, subscription: Any) -> None:
        async for change in subscription:
            if subscription.overflowed:
                subscription.overflowed = False
                self._resync()
            self._changed.add(change.incident_id)
            self._wake.set()

    def _resync(self) -> None:
        """Every board gets a snapshot at the next push."""
        for stream in list(self.streams):
            if stream.board_filter is not None:
                self.streams.discard(stream)
                self._joining.append(stream)
        self._wake.set()

    async def _push(self) -> None:
        changed, self._changed = self._changed, set()
        now = now_ms()
        for stream in [s for s in self.streams if s.stale and s.board_filter is not None]:
            self.streams.discard(stream)
            self._joining.append(stream)
        boards = [s for s in self.streams if s.board_filter is not None]
        for stream in self.streams:
            if stream.incident_id in changed:
                stream.stale = False
                stream.send(event("changed", {"id": stream.incident_id}))
        if changed and boards:
            found = await self.store.summaries(sorted(changed))
            rows = {i: self.board.shown_row(listed, now) for i, listed in found.items()}
            for stream in boards:
                assert stream.board_filter is not None
                shown = []
                for incident_id in sorted(changed):
                    summary, html = rows.get(incident_id, (None, None))
                    wanted = summary is not None and stream.board_filter.matches(summary)
                    shown.append({"id": incident_id, "html": html if wanted else None})
                stream.send(event("rows", {"rows": shown}))
        joining, self._joining = self._joining, []
        for stream in joining:
            assert stream.board_filter is not None
            stream.stale = False
            snapshot = await self.board.snapshot(stream.board_filter, now)
            stream.send(event("snapshot", snapshot))
            self.streams.add(stream)

    # The endpoints ---------------------------------------------------------------

    async def board_events(self, request: web.Request) -> web.StreamResponse:
        try:
            board_filter = BoardFilter.from_query(request.query)
        except BadParameter as exc:
            return error_response(422, str(exc), exc.field)
        return await self._serve(request, Stream(board_filter=board_filter))

    async def incident_events(self, request: web.Request) -> web.StreamResponse:
        incident_id = request.match_info["id"]
        stream = Stream(incident_id=incident_id)

        async def hello() -> bytes | None:
            found = await self.store.summaries([incident_id])
            if incident_id not in found:
                return None
            return event(
                "hello", {"id": incident_id, "updated_at": found[incident_id][0]["updated_at"]}
            )

        return await self._serve(request, stream, hello)

    async def _serve(
        self, request: web.Request, stream: Stream, hello: Any = None
    ) -> web.StreamResponse:
        try:
            with self.connected(stream):
                # Registered before the first read: a change from now on is not missed.
                first = await hello() if hello is not None else b""
                if first is None:
                    return error_response(404, f"no incident {stream.incident_id!r}", "id")
                response = web.StreamResponse(
                    headers={
                        "Content-Type": "text/event-stream",
                        "Cache-Control": "no-store",
                        "X-Accel-Buffering": "no",  # nginx: pass each event on at once
                    }
                )
                await response.prepare(request)
                await response.write(f"retry: {RETRY_MILLISECONDS}\n\n".encode() + first)
                await self._relay(stream, response)
                return response
        except TooMany:
            return error_response(
                503,
                f"{self.max_streams} pages are following changes already "
                "(incidents.board.max_streams); retry later",
                headers={"Retry-After": "5"},
            )

    async def _relay(self, stream: Stream, response: web.StreamResponse) -> None:
        with contextlib.suppress(ConnectionResetError):
            while True:
                try:
                    message = await asyncio.wait_for(stream.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    message = b": keepalive\n\n"
                if message is None:
                    return
                await response.write(message)
