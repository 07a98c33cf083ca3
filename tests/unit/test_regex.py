"""RE2 for user-supplied patterns: the fast path equals the plain binding, and
Python's catastrophic cases are ordinary."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.corral import config as corral_config
from shared.config import ConfigError
from shared.matchers import parse_matcher
from shared.regex import Pattern

PATTERNS = st.sampled_from(
    ["", "a", "a|b", "(a|a)*b", ".*", "x.+y", "[a-c]*", "é+", "\\d{2,3}", "(?i)up", "a\\nb", "^a$"]
)
SETTINGS = settings(max_examples=300, derandomize=True)


@SETTINGS
@given(PATTERNS, st.text(alphabet="abcxyé\n0123U", max_size=12))
def test_the_direct_call_equals_the_bindings_own_fullmatch(pattern: str, text: str) -> None:
    options = re2.Options()
    options.dot_nl = True
    plain = re2.compile(f"^(?:{pattern})$", options).fullmatch(text) is not None
    assert Pattern(pattern).fullmatch(text) is plain


@SETTINGS
@given(st.text(max_size=40))
def test_any_pattern_compiles_or_is_a_value_error(pattern: str) -> None:
    try:
        Pattern(pattern)
    except ValueError as exc:
        assert "invalid regular expression" in str(exc)


def test_the_issues_pattern_is_linear_and_python_only_features_are_refused() -> None:
    matcher = parse_matcher('job=~"(a|a)*b"')
    assert not matcher.matches("a" * 100_000)
    assert matcher.matches("a" * 1000 + "b")
    for pattern in ("(?=a)", "(a)\\1", "(?<=a)b"):
        try:
            Pattern(pattern)
        except ValueError:
            continue
        raise AssertionError(f"{pattern} should not compile")


def test_anchored_as_alertmanager_anchors() -> None:
    assert Pattern("a|b").fullmatch("b")
    assert not Pattern("a|b").fullmatch("ab")
    assert Pattern("x.*").fullmatch("x\ny")  # . matches a newline, as in Prometheus


@SETTINGS
@given(st.text(max_size=300))
def test_the_matcher_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_matcher(text)


def test_a_pattern_re2_refuses_is_a_file_and_line_error(tmp_path: Path) -> None:
    config = tmp_path / "corral.yml"
    config.write_text(
        "notify:\n  route:\n    receiver: log\n    routes:\n"
        "      - matchers: ['team=~\"(?!db).*\"']\n        receiver: log\n"
    )
    with pytest.raises(ConfigError, match=r"corral\.yml:5: .*invalid regular expression"):
        corral_config.load(config, env={})
