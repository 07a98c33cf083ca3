"""The issue's silence regex ``(a|a)*b`` on label values of growing length:
Python's backtracking ``re`` against RE2, as Corral's matchers run it.

    python -m bench.regex            (or: make bench-regex)

Prints seconds per match (best of a few runs); ``re`` is stopped once one
match takes longer than ``--re-limit`` seconds, since each further character
doubles its time. Nothing here asserts a time: the numbers are the result.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

from shared.matchers import parse_matcher

PATTERN = "(a|a)*b"


def best_of(runs: int, match: Callable[[str], object], value: str) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        match(value)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--re-limit", type=float, default=2.0, help="stop re past this (s)")
    args = parser.parse_args()
    backtracking = re.compile(f"^(?:{PATTERN})$", re.DOTALL)
    matcher = parse_matcher(f'job=~"{PATTERN}"')  # Corral's own matcher: RE2
    print(f"pattern {PATTERN!r} against 'a' * n (no match: every path is tried)\n")
    print(f"{'n':>8}  {'Python re (s)':>14}  {'RE2 (s)':>12}")
    re_stopped = False
    for n in (10, 16, 18, 20, 22, 24, 26, 28, 1_000, 100_000, 1_000_000):
        value = "a" * n
        if re_stopped or n > 1000:
            re_time = "—"
        else:
            seconds = best_of(1 if n >= 20 else 3, backtracking.match, value)
            re_time = f"{seconds:.6f}"
            re_stopped = seconds > args.re_limit
        rtwo = best_of(5, matcher.matches, value)
        print(f"{n:>8}  {re_time:>14}  {rtwo:>12.6f}")


if __name__ == "__main__":
    main()
