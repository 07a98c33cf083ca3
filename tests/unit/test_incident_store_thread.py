"""``OwnThread`` does what ``run_in_executor`` on a one-thread pool does, with less bookkeeping."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from services.incidents.store.thread import OwnThread

Runner = Callable[[Callable[[], Any]], Awaitable[Any]]


def fail() -> None:
    raise ValueError("no such table")


def interrupt() -> None:
    raise KeyboardInterrupt


CALLS: list[Callable[[], Any]] = [lambda: 1, lambda: None, fail, lambda: [(1, "a")], interrupt]


async def outcomes(run: Runner) -> list[tuple[str, Any]]:
    """What each call gives, in order: ("ok", result) or ("raised", type, message)."""
    found: list[tuple[str, Any]] = []
    for function in CALLS:
        try:
            found.append(("ok", await run(function)))
        except BaseException as exc:
            found.append(("raised", (type(exc), str(exc))))
    return found


async def test_results_and_exceptions_are_the_executors() -> None:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as pool:
        expected = await outcomes(lambda f: loop.run_in_executor(pool, f))
    thread = OwnThread("test")
    try:
        assert await outcomes(thread.call) == expected
    finally:
        await thread.stop()


async def test_calls_run_on_one_thread_in_the_order_given() -> None:
    thread = OwnThread("test")
    seen: list[tuple[int, int]] = []
    try:
        await asyncio.gather(
            *(
                thread.call(lambda n=n: seen.append((n, threading.get_ident())))  # type: ignore[misc]
                for n in range(50)
            )
        )
    finally:
        await thread.stop()
    assert [n for n, _ in seen] == list(range(50))
    assert len({ident for _, ident in seen}) == 1
    assert seen[0][1] != threading.get_ident()


async def test_a_call_given_up_on_still_runs_and_the_next_is_answered() -> None:
    thread = OwnThread("test")
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def slow() -> str:
        started.set()
        release.wait(5)
        ran.append("slow")
        return "late"

    try:
        waiting = asyncio.ensure_future(thread.call(slow))
        await asyncio.to_thread(started.wait, 5)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        assert await thread.call(lambda: "next") == "next"
    finally:
        await thread.stop()
    assert ran == ["slow"]


async def test_stop_ends_the_thread_after_what_was_asked_before() -> None:
    thread = OwnThread("test")
    done: list[int] = []
    pending = [asyncio.ensure_future(thread.call(lambda n=n: done.append(n))) for n in range(5)]  # type: ignore[misc]
    await asyncio.sleep(0)
    await thread.stop()
    await asyncio.gather(*pending)
    assert done == list(range(5))
    assert not thread._thread.is_alive()
