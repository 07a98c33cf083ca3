"""A headless Chromium for the session, from Debian's package (installed when missing).

Where it cannot be installed (no apt-get, not root) the browser tests skip,
saying why; in CI (``CI`` set) that is an error instead, since ``.ci/run``
installs chromium first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.browser.chromium import chromium_or_reason, launch


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    why = chromium_or_reason()
    if why is not None:
        pytest.skip(f"browser tests need Debian's chromium: {why}")
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            yield browser
        finally:
            await browser.close()
