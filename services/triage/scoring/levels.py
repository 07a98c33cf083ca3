"""Corral's severity levels and priorities, and how other spellings map onto them."""

from __future__ import annotations

import re

SEVERITIES = ("critical", "warning", "info")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")

# Common spellings of the ``severity`` label across exporters, mixins and
# vendors, mapped to Corral's three levels.
SEVERITY_ALIASES = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "high": "critical",
    "error": "critical",
    "major": "critical",
    "emergency": "critical",
    "disaster": "critical",
    "fatal": "critical",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "average": "warning",
    "info": "info",
    "informational": "info",
    "information": "info",
    "notice": "info",
    "low": "info",
    "none": "info",
    "debug": "info",
}

RANK = {"critical": 3, "warning": 2, "info": 1}

# Lower bound of each priority's score band: P1 is 80-100, P5 is 0-19.
PRIORITY_FLOOR = {"P1": 80, "P2": 60, "P3": 40, "P4": 20, "P5": 0}

# How a verdict about priority (from the people on call) reads as severity,
# the thing the classifier learns.
PRIORITY_SEVERITY = {
    "P1": "critical",
    "P2": "critical",
    "P3": "warning",
    "P4": "info",
    "P5": "info",
}


# Numbered scales, most urgent first: P1/P2, sev1/sev2 and S1/S2 page.
_ORDINAL = re.compile(r"^(?:p|sev|s)\s*-?\s*([0-9])$")
_ORDINAL_SEVERITY = {0: "critical", 1: "critical", 2: "critical", 3: "warning"}


def normalize_severity(value: str | None) -> str | None:
    """One of SEVERITIES, or None for a missing or unknown spelling."""
    if not value:
        return None
    value = value.strip().lower()
    known = SEVERITY_ALIASES.get(value)
    if known is None and (ordinal := _ORDINAL.match(value)):
        return _ORDINAL_SEVERITY.get(int(ordinal.group(1)), "info")
    return known


def priority_for(score: int) -> str:
    for priority in PRIORITIES:
        if score >= PRIORITY_FLOOR[priority]:
            return priority
    return PRIORITIES[-1]


def score_band(priority: str) -> tuple[int, int]:
    """The score range that reads as ``priority``."""
    index = PRIORITIES.index(priority)
    low = PRIORITY_FLOOR[priority]
    high = 100 if index == 0 else PRIORITY_FLOOR[PRIORITIES[index - 1]] - 1
    return low, high
