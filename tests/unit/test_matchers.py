import pytest

from shared.matchers import MatchType, matches_all, parse_matcher, parse_matchers


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ('severity="critical"', "critical", True),
        ('severity="critical"', "critical2", False),
        ("severity=critical", "critical", True),
        ('severity!="critical"', "warning", True),
        ('alertname=~"Kube.*"', "KubeNodeNotReady", True),
        # Regexes are anchored at both ends, as in Alertmanager.
        ('alertname=~"Node"', "KubeNodeNotReady", False),
        ('alertname=~"Node|Kube"', "Kube", True),
        ('alertname!~"Watchdog|InfoInhibitor"', "Watchdog", False),
        ('alertname!~"Watchdog|InfoInhibitor"', "Watchdogs", True),
        # A missing label matches as the empty string.
        ('team=""', "", True),
        ('team!=""', "", False),
        ('team=~".*"', "", True),
        ('team=~".+"', "", False),
        ('msg="a \\"quoted\\" word"', 'a "quoted" word', True),
    ],
)
def test_matcher_semantics(text: str, value: str, expected: bool) -> None:
    assert parse_matcher(text).matches(value) is expected


def test_missing_label_is_empty() -> None:
    matchers = parse_matchers('{team="", severity="critical"}')
    assert matches_all(matchers, {"severity": "critical"})
    assert not matches_all(matchers, {"severity": "critical", "team": "db"})


def test_list_form_keeps_commas_inside_quotes() -> None:
    matchers = parse_matchers('service=~"a,b|c", env="prod"')
    assert [(m.name, m.type, m.value) for m in matchers] == [
        ("service", MatchType.REGEX, "a,b|c"),
        ("env", MatchType.EQUAL, "prod"),
    ]


@pytest.mark.parametrize("text", ['severity=~"(unclosed"', "no operator", '="x"', 'a="b'])
def test_invalid_matchers_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid|unterminated"):
        parse_matchers(text)


def test_round_trips_through_str() -> None:
    matcher = parse_matcher('msg=~"a\\"b.*"')
    assert parse_matcher(str(matcher)) == matcher
