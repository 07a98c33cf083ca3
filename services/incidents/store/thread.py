"""A thread of its own that runs the calls the event loop hands it, one at a time.

SQLite blocks, so each connection runs on a thread of its own, and every
batch hands its statements there and waits for them. ``loop.run_in_executor``
on a one-thread ``ThreadPoolExecutor`` does the same with a
``concurrent.futures.Future`` chained to the asyncio one (a lock, a
condition, callbacks both ways) and a check of the function per call; that
bookkeeping cost the event loop more CPU than most statements. Here a call
is a queue entry and the answer one ``call_soon_threadsafe``:
``tests/unit/test_incident_store_thread.py`` holds it to what the executor
gives (results, exceptions, order, cancellation, close).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[Callable[[], Any], asyncio.Future[Any]]


class OwnThread:
    """Runs what ``call`` is given on one thread, in the order given."""

    def __init__(self, name: str):
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        # A daemon: a store left open does not keep the process from exiting
        # (SQLite's journal makes an unfinished transaction undone).
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def call(self, function: Callable[[], T]) -> T:
        """``function()`` on the thread: what it returns, or raises."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put((function, future))
        return await future

    async def stop(self) -> None:
        """After what was asked before: the thread ended."""
        self._calls.put(None)
        await asyncio.to_thread(self._thread.join)

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            function, future = call
            try:
                result = function()
            except BaseException as exc:  # handed back to the caller, whatever it is
                _answer(future, None, exc)
            else:
                _answer(future, result, None)


def _answer(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    # An event loop closed meanwhile (RuntimeError) has nobody waiting for it.
    with contextlib.suppress(RuntimeError):
        future.get_loop().call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the caller stopped waiting; the call ran all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
