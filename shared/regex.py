"""Regular expressions that users and alerts supply, run on RE2.

Python's ``re`` backtracks: a silence matcher such as ``(a|a)*b`` takes
seconds (and doubles with every extra character) on a label value of a few
dozen ``a``; RE2, which Alertmanager and Prometheus use through Go's
``regexp``, matches in time linear in the input whatever the pattern. The
syntax users write is therefore RE2's (Go's), exactly as in alertmanager.yml:
no backreferences, no look-around.

Every pattern is anchored at both ends as Alertmanager anchors matchers
(``^(?:pattern)$``) and ``.`` also matches a newline, as Prometheus' label
matchers do. Compiled programs are bounded in memory (``MAX_PROGRAM_BYTES``):
a pattern too large for that is refused like a syntax error.

This is also the one place with a performance trick: ``fullmatch`` calls the
compiled RE2 object directly rather than through the ``re2`` module's
``re``-compatible wrapper, which costs several times more per call (it builds
match objects and decodes offsets); ``tests/unit/test_regex.py`` holds the two
equal.
"""

from __future__ import annotations

import re2
from re2 import _re2

MAX_PROGRAM_BYTES = 2 * 1024 * 1024
"""RE2's ``max_mem`` for one pattern: far above any real matcher, far below harm."""

_ANCHOR_BOTH = _re2.RE2.Anchor.ANCHOR_BOTH


def _options() -> re2.Options:
    options = re2.Options()
    options.dot_nl = True
    options.never_capture = True
    options.max_mem = MAX_PROGRAM_BYTES
    # Errors are raised to the caller, who names the field; RE2's own stderr
    # line would only duplicate them outside the JSON log.
    options.log_errors = False
    return options


_OPTIONS = _options()


class Pattern:
    """One anchored RE2 pattern; ``ValueError`` if RE2 cannot compile it."""

    __slots__ = ("_program", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        program = _re2.RE2(pattern.encode(), _OPTIONS)
        if not program.ok():
            raise ValueError(f"invalid regular expression {pattern!r}: {_reason(program)}")
        self._program = program

    def fullmatch(self, text: str) -> bool:
        encoded = text.encode()
        matched: bool = self._program.Match(_ANCHOR_BOTH, encoded, 0, len(encoded))[0][0] != -1
        return matched


def _reason(program: _re2.RE2) -> str:
    error = program.error()
    return error.decode(errors="replace") if isinstance(error, bytes) else str(error)
