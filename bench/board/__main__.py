"""How soon an open board shows a new incident, and a change to one.

    python -m bench.board [--webhooks 200] [--interval 0.25]
    python -m bench.board --screenshots docs/images

Starts Corral as a user does (``corral up``: the embedded broker and the
four workers, each its own process) with a web config, opens the board in
headless Chromium (Debian's, through Playwright) signed in as a responder,
and posts Alertmanager webhooks to ingest one at a time, each a new
incident. The page notes when each row appears (a MutationObserver, the
page's own clock); the figure is that time less the time just before the
webhook was posted, on the same machine clock: ingest, Kafka, triage, Kafka,
the incident store, the change feed, the Server-Sent Event and the page.
Then it acknowledges each incident through the API and times the same way
until its row says "acknowledged".

With ``--screenshots DIR`` it instead opens a few incidents as a small
outage would, has people act on them, and writes ``board.png`` and
``incident.png`` (the pictures in docs/board.md and the README).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from playwright.async_api import Page, async_playwright

from services.corral.embedded import free_port
from shared.service import bound_port, start_http, wait_ready
from shared.web.commands import hash_password
from tests.alertmanager import am_alert, send
from tests.browser.chromium import chromium_or_reason, launch

ROOT = Path(__file__).resolve().parents[2]
USERS = {"alertmanager": ["alerts"], "alice": ["admin", "metrics"], "bob": ["admin"]}
PASSWORD = "bench-password"

# Notes each row's first appearance, and when its state first reads "acknowledged".
OBSERVER = """
window.seen = {};
window.acknowledged = {};
const note = () => {
  for (const row of document.querySelectorAll('#incidents tr')) {
    const title = row.querySelector('th.title a').textContent;
    if (!(title in window.seen)) window.seen[title] = Date.now();
    if (row.querySelector('.state').textContent.includes('acknowledged')
        && !(title in window.acknowledged)) window.acknowledged[title] = Date.now();
  }
};
new MutationObserver(note).observe(
  document.getElementById('incidents'), {childList: true, subtree: true, characterData: true});
note();
"""


@dataclass
class Corral:
    ingest: str
    incidents: str

    def headers(self, user: str) -> dict[str, str]:
        pair = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[str]:
    """A webhook receiver that takes every page: the timeline shows the deliveries."""

    async def take(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", take)
    runner = await start_http(app, "127.0.0.1:0")
    try:
        yield f"http://127.0.0.1:{bound_port(runner)}/hook"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def corral_up(directory: Path, hook: str) -> AsyncIterator[Corral]:
    web = directory / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {
                "basic_auth_users": {user: hash_password(PASSWORD) for user in USERS},
                "roles": USERS,
            }
        )
    )
    listen = {name: f"127.0.0.1:{free_port()}" for name in ("ingest", "triage", "notify")}
    incidents = f"127.0.0.1:{free_port()}"
    config = {
        "log": {"level": "warning"},
        "web": {"config_file": str(web)},
        **{name: {"listen": address} for name, address in listen.items()},
        "notify": {
            "listen": listen["notify"],
            "route": {"receiver": "oncall", "group_wait": "0s"},
            "receivers": [{"name": "oncall", "webhook_configs": [{"url": hook}]}],
        },
        "incidents": {"listen": incidents, "data_dir": str(directory / "store")},
    }
    path = directory / "corral.yml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "KAFKA_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.corral.cli", "up", "--config", str(path), env=env,
        stdout=asyncio.subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    try:
        for address in (*listen.values(), incidents):
            await wait_ready(address, 120)
        yield Corral(f"http://{listen['ingest']}", f"http://{incidents}")
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def act(corral: Corral, user: str, incident_id: str, name: str, **body: Any) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{corral.incidents}/api/v1/incidents/{incident_id}/{name}",
            json={"source": "board", **body},
            headers=corral.headers(user),
        ) as response,
    ):
        response.raise_for_status()


async def when(page: Page, table: str, title: str) -> int:
    """The page's time (ms) when the row titled ``title`` was noted in ``table``."""
    found = f"window.{table}[Object.keys(window.{table}).find(t => t.startsWith({title!r}))]"
    waited = f"""new Promise(resolve => {{
      const check = () => {{ const at = {found}; if (at === undefined) setTimeout(check, 5);
                              else resolve(at); }};
      check();
    }})"""
    return int(await asyncio.wait_for(page.evaluate(waited), 60))


async def incident_id(page: Page, title: str) -> str:
    row = page.locator("#incidents tr", has_text=title)
    return (await row.get_attribute("id") or "").removeprefix("incident-")


def percentiles(name: str, samples: list[float]) -> None:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    print(
        f"{name:32} n={len(samples):3}  p50 {cuts[49]:6.0f} ms  p90 {cuts[89]:6.0f} ms  "
        f"p99 {cuts[98]:6.0f} ms  max {max(samples):6.0f} ms"
    )


async def latency(corral: Corral, page: Page, webhooks: int, interval: float) -> None:
    await page.evaluate(OBSERVER)
    names = [f"BoardLatency{n:03d}" for n in range(webhooks)]
    arrived: list[float] = []
    for n, name in enumerate(names):
        labels = {"alertname": name, "cluster": f"bench-{n}", "severity": "warning"}
        alerts = [am_alert(labels, {"summary": f"probe {n}"})]
        started = time.time() * 1000
        await send(corral.ingest, alerts, corral.headers("alertmanager"))
        arrived.append(await when(page, "seen", name) - started)
        await asyncio.sleep(interval)
    acknowledged: list[float] = []
    for name in names:
        found = await incident_id(page, name)
        started = time.time() * 1000
        await act(corral, "alice", found, "ack")
        acknowledged.append(await when(page, "acknowledged", name) - started)
        await asyncio.sleep(interval)
    percentiles("webhook -> row on the board", arrived)
    percentiles("acknowledge -> row says so", acknowledged)


OUTAGE: list[list[tuple[dict[str, str], str]]] = [
    [
        (
            {"alertname": "KubeNodeNotReady", "node": "worker-7", "severity": "critical"},
            "Node worker-7 has been unready for more than 15 minutes.",
        ),
        (
            {
                "alertname": "KubePodNotReady",
                "node": "worker-7",
                "pod": "checkout-7d9f",
                "severity": "warning",
            },
            "Pod prod/checkout-7d9f has been in a non-ready state for longer than 15 minutes.",
        ),
    ],
    [
        (
            {"alertname": "HighErrorRate", "service": "payments", "severity": "critical"},
            "5.2% of payments requests fail (threshold 1%).",
        )
    ],
    [
        (
            {"alertname": "PostgresReplicationLag", "instance": "db-2", "severity": "warning"},
            "Replica db-2 is 94 s behind its primary.",
        )
    ],
    [
        (
            {"alertname": "DiskWillFillIn4Hours", "instance": "logs-1", "severity": "warning"},
            "/var/log on logs-1 will be full in about 3 hours.",
        )
    ],
    [
        (
            {"alertname": "CertificateExpiringSoon", "service": "ingress", "severity": "info"},
            "The ingress certificate expires in 9 days.",
        )
    ],
]
TEAMS = ["platform", "payments", "db", "storage", "platform"]


async def screenshots(corral: Corral, page: Page, directory: Path) -> None:
    await page.evaluate(OBSERVER)
    for group, team in zip(OUTAGE, TEAMS, strict=True):
        alerts = [
            am_alert(
                {**labels, "cluster": "prod-eu-1", "team": team},
                {
                    "summary": summary,
                    "runbook_url": f"https://runbooks.example/{labels['alertname']}",
                },
            )
            for labels, summary in group
        ]
        await send(corral.ingest, alerts, corral.headers("alertmanager"))
        await when(page, "seen", group[0][0]["alertname"])
        await asyncio.sleep(1)
    node = await incident_id(page, "KubeNodeNotReady")
    await act(corral, "alice", node, "ack", comment="looking at worker-7")
    await act(corral, "alice", node, "assign", role="incident_commander", person="alice")
    await act(corral, "bob", node, "assign", role="communications_lead", person="bob")
    await act(
        corral, "bob", node, "notes", text="worker-7 lost its root disk; cordoned and drained"
    )
    payments = await incident_id(page, "HighErrorRate")
    await act(corral, "bob", payments, "ack")
    await act(corral, "bob", payments, "assign", role="incident_commander", person="bob")
    await when(page, "acknowledged", "HighErrorRate")
    await asyncio.sleep(5)  # the changed rows' highlight fades
    await page.screenshot(path=str(directory / "board.png"), full_page=True)
    await page.goto(f"/incidents/{node}")
    await page.wait_for_selector("#connection:has-text('Live')")
    await page.screenshot(path=str(directory / "incident.png"), full_page=True)
    print(f"wrote {directory / 'board.png'} and {directory / 'incident.png'}")


async def main(args: argparse.Namespace) -> None:
    why = chromium_or_reason()
    if why is not None:
        raise SystemExit(f"needs Debian's chromium: {why}")
    with tempfile.TemporaryDirectory(prefix="corral-board-") as temporary:
        async with (
            receiver() as hook,
            corral_up(Path(temporary), hook) as corral,
            async_playwright() as playwright,
        ):
            browser = await launch(playwright)
            context = await browser.new_context(
                base_url=corral.incidents,
                http_credentials={"username": "alice", "password": PASSWORD},
                viewport={"width": 1280, "height": 760},
                color_scheme="light",
            )
            page = await context.new_page()
            await page.goto("/")
            await page.wait_for_selector("#connection:has-text('Live')")
            if args.screenshots:
                await screenshots(corral, page, Path(args.screenshots))
            else:
                await latency(corral, page, args.webhooks, args.interval)
            await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhooks", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between webhooks")
    parser.add_argument("--screenshots", metavar="DIR", help="write board.png and incident.png")
    arguments = parser.parse_args()
    if arguments.screenshots:
        Path(arguments.screenshots).mkdir(parents=True, exist_ok=True)
    asyncio.run(main(arguments))
