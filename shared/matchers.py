"""Alertmanager label matchers: ``name="value"``, ``!=``, ``=~``, ``!~``.

Routes, silences, inhibition-style correlation rules and severity rules all
select alerts the way Alertmanager does, so one implementation serves them
all. Semantics follow Alertmanager: regexes are RE2 (``shared.regex``: linear
time, whatever a silence or route supplies) anchored at both ends, and a
missing label matches as the empty string (``team=""`` selects alerts without
a team label).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated

import re2
from pydantic import AfterValidator

from shared.regex import Pattern


def _parser_options() -> re2.Options:
    options = re2.Options()
    options.dot_nl = True
    options.log_errors = False
    return options


_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
# Parsed with RE2 too: the text comes from silences' API bodies, and under
# Python's re this pattern backtracks quadratically on runs of spaces.
_MATCHER = re2.compile(
    rf"""^\s*(?P<name>{_NAME}|"(?:[^"\\]|\\.)*")\s*(?P<op>=~|!~|!=|=)\s*"""
    rf"""(?P<value>"(?:[^"\\]|\\.)*"|[^"]*?)\s*$""",
    _parser_options(),
)


class MatchType(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    name: str
    type: MatchType
    value: str
    _regex: Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, type: MatchType | str, value: str) -> Matcher:
        kind = MatchType(type)
        regex = Pattern(value) if kind in (MatchType.REGEX, MatchType.NOT_REGEX) else None
        return cls(name, kind, value, regex)

    def matches(self, value: str) -> bool:
        match self.type:
            case MatchType.EQUAL:
                return value == self.value
            case MatchType.NOT_EQUAL:
                return value != self.value
            case MatchType.REGEX:
                assert self._regex is not None
                return self._regex.fullmatch(value)
            case MatchType.NOT_REGEX:
                assert self._regex is not None
                return not self._regex.fullmatch(value)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.type.value}"{escaped}"'


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        body = text[1:-1]
        return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), body)
    return text


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher as Alertmanager's config and amtool accept it."""
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(f'invalid matcher {text!r}: expected name="value" with =, !=, =~ or !~')
    return Matcher.create(
        _unquote(found.group("name")), found.group("op"), _unquote(found.group("value"))
    )


def _split(text: str) -> list[str]:
    """Split ``a="x,y", b=~"z"`` on commas outside quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted, escaped = False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        raise ValueError(f"unterminated quote in matchers {text!r}")
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def parse_matchers(text: str) -> list[Matcher]:
    """Parse ``{a="b", c=~"d"}`` or ``a="b", c=~"d"`` into matchers."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return [parse_matcher(part) for part in _split(text)]


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def _check_matchers(texts: list[str]) -> list[str]:
    for text in texts:
        parse_matcher(text)
    return texts


MatcherTexts = Annotated[list[str], AfterValidator(_check_matchers)]
"""A list of matchers in text form, each checked as it is read (configs, silences)."""
