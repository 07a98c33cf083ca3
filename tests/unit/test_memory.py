"""When a worker gives its freed memory back to the system (``shared.memory``)."""

from __future__ import annotations

import platform

import pytest

from shared.memory import IdleTrim, malloc_trim


class Trims:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_a_worker_trims_once_at_the_first_idle_tick_after_a_backlog_s_worth_of_records() -> None:
    trims = Trims()
    heap = IdleTrim(after=100, trim=trims)
    heap.handled(60)
    heap.tick()
    heap.tick()
    assert trims.count == 0  # not enough handled to be worth a walk of the heap
    heap.handled(40)
    heap.tick()
    assert trims.count == 0  # it handled records since the tick before: not idle yet
    heap.tick()
    assert trims.count == 1
    heap.tick()
    heap.handled(99)
    heap.tick()
    heap.tick()
    assert trims.count == 1  # too little handled since to give back


def test_a_worker_keeping_up_with_a_storm_does_not_trim() -> None:
    trims = Trims()
    heap = IdleTrim(after=1, trim=trims)
    for _ in range(5):
        heap.handled(1000)
        heap.tick()
    assert trims.count == 0


def test_a_worker_that_restored_its_state_trims_at_its_first_idle_tick() -> None:
    trims = Trims()
    heap = IdleTrim(after=100, trim=trims)
    heap.due()
    heap.handled(5)  # the records that came in after the restore
    heap.tick()
    assert trims.count == 0
    heap.tick()
    heap.tick()
    assert trims.count == 1


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_s_malloc_trim_is_found_and_runs() -> None:
    trim = malloc_trim()
    assert trim is not None
    trim()
