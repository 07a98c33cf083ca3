"""Debian's Chromium driven by Playwright: never a browser Playwright downloads."""

from __future__ import annotations

import os
import shutil

from playwright.async_api import Browser, Playwright

from tests.debian import install

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def chromium_or_reason() -> str | None:
    """None once Debian's chromium is installed (installing it when missing), else why not."""
    if shutil.which(CHROMIUM):
        return None
    why = install("chromium")
    if why is None and not shutil.which(CHROMIUM):
        why = f"apt-get installed chromium, but there is no {CHROMIUM}"
    if why is not None and os.environ.get("CI"):
        raise RuntimeError(f"CI runs the browser tests: {why}")
    return why


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
