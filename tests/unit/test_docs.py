"""The documentation stays true to the code: the generated configuration
reference is current, and every relative link in the README and docs/
points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

from services.corral.config import CorralConfig
from services.corral.reference import BEGIN, END, render, rows, splice

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_configuration_reference_is_current() -> None:
    document = (ROOT / "docs" / "configuration.md").read_text()
    assert BEGIN in document and END in document
    assert splice(document, render(CorralConfig)) == document, (
        "docs/configuration.md is stale: run `make docs`"
    )


def test_reference_lists_nested_and_aliased_fields() -> None:
    keys = {key for key, *_ in rows(CorralConfig)}
    assert "kafka.bootstrap_servers" in keys
    assert "notify.route.continue" in keys  # the alias a user writes, not continue_
    assert "notify.receivers[].webhook_configs[].url" in keys
    # A route contains routes: described once, not recursed into forever.
    assert not any(key.startswith("notify.route.routes[].routes") for key in keys)


def test_relative_links_resolve() -> None:
    documents = [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")]
    broken = []
    for document in documents:
        for target in LINK.findall(document.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (document.parent / target).exists():
                broken.append(f"{document.relative_to(ROOT)}: {target}")
    assert not broken, broken
