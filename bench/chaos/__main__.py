"""``make chaos``: an alert storm through all three workers while faults hit them.

At least ``--alerts`` distinct alerts, in Alertmanager webhooks, go to the
real ``corral ingest``, ``triage`` and ``notify`` processes on the embedded
broker while, at times drawn from ``--seed``, every worker is killed and
restarted, the broker stalls for ten seconds, the receivers fail for a
while, poison records land on both input topics and a second triage worker
joins and leaves (``bench.chaos.faults``). Then the pipeline is given time to
settle and the outcome is checked from the outside (``bench.chaos.verdict``).
Prints a table and exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from bench.chaos.faults import Injected, inject, plan
from bench.chaos.receiver import Receivers
from bench.chaos.stack import Stack
from bench.chaos.traffic import BROKEN_URL, Sender, storm
from bench.chaos.verdict import Verdict, judge
from shared.config import KafkaSettings

SETTLE_TIMEOUT = 120.0


async def campaign(seed: int, alerts: int, duration: float, directory: Path) -> int:
    hooks = storm(alerts, duration, seed)
    faults = plan(seed, duration)
    receivers = await Receivers().start()
    stack = Stack(directory, [receivers.url(path) for path in receivers.paths])
    injected = Injected()
    began = time.monotonic()
    try:
        await stack.start()
        kafka = KafkaSettings.model_validate(stack.config["kafka"])
        sender = Sender(f"http://{stack.listens['ingest']}/api/v1/alerts/alertmanager")
        distinct = len({a["fingerprint"] for h in hooks for a in h.alerts})
        print(
            f"chaos seed {seed}: {distinct:,} alerts ({sum(len(h.alerts) for h in hooks):,} "
            f"with re-sends) in {len(hooks):,} webhooks over {duration:.0f} s; "
            f"workers up in {time.monotonic() - began:.0f} s",
            flush=True,
        )
        started = time.monotonic()
        deadline = started + duration + SETTLE_TIMEOUT
        await asyncio.gather(
            sender.send(hooks, deadline), inject(faults, stack, receivers, kafka, injected)
        )
        stormed = time.monotonic() - started
        late = await stack.not_ready()
        broken = {
            a["fingerprint"] for h in hooks for a in h.alerts if a["generatorURL"] == BROKEN_URL
        }
        verdict = await settle(kafka, sender, broken, receivers, injected)
        settled = time.monotonic() - started - stormed
        exited = stack.exited()
    finally:
        await stack.close()
        await receivers.stop()
    print(table(seed, sender, injected, verdict, started, stormed, settled, receivers))
    problems = [
        *verdict.violations(),
        *(f"{name} exited with code {code}" for name, code in exited.items()),
        *(f"{name} not ready after the storm" for name in late),
    ]
    if problems:
        print("\nVIOLATIONS", *problems, sep="\n  ")
        for name in ("ingest", "triage", "notify"):
            print(f"\n--- {name} log (last lines) ---\n{stack.log_tail(name)}")
        return 1
    print(f"\nall invariants hold ({time.monotonic() - began:.0f} s in all)")
    return 0


async def settle(
    kafka: KafkaSettings,
    sender: Sender,
    broken: set[str],
    receivers: Receivers,
    injected: Injected,
) -> Verdict:
    """Judge until the pipeline has caught up (or the timeout passes)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        verdict = await judge(
            kafka, sender.acknowledged, broken, receivers.pages, receivers.paths, injected
        )
        if not verdict.violations() or time.monotonic() > deadline:
            return verdict
        await asyncio.sleep(2.0)


def table(
    seed: int,
    sender: Sender,
    injected: Injected,
    verdict: Verdict,
    started: float,
    stormed: float,
    settled: float,
    receivers: Receivers,
) -> str:
    lines = [f"\nfaults (seed {seed}), seconds into the storm:"]
    lines += [f"  {at - started:6.1f}  {what}" for at, what in injected.done]
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(sender.statuses.items()))
    rows = [
        ("faults injected", f"{len(_faults(injected))}"),
        ("webhooks posted (answers)", f"{sender.requests:,} ({statuses})"),
        ("alerts acknowledged (200)", f"{verdict.acknowledged:,}"),
        ("  lost (in no incident)", f"{len(verdict.lost)}"),
        ("  http://[ alerts in an incident", "{} / {}".format(*verdict.broken_url_alerts)),
        ("incidents (revisions)", f"{verdict.incidents:,} ({verdict.revisions:,})"),
        ("  opened twice", f"{len(verdict.opened_twice)}"),
        ("pages taken by the 2 receivers", f"{verdict.pages:,}"),
        ("  answered 500, retried", f"{receivers.refused:,}"),
        ("  duplicated pages", f"{len(verdict.duplicated)}"),
        ("  re-sent in the documented window", f"{verdict.window}"),
        ("  latest revision not delivered", f"{len(verdict.undelivered)}"),
        ("  out of order", f"{len(verdict.out_of_order)}"),
        ("  superseded before sending", f"{verdict.coalesced}"),
        ("quarantined: poison records", "{} / {}".format(*verdict.poison)),
        ("quarantined: anything else", f"{len(verdict.other_quarantined)}"),
        ("storm, then settling", f"{stormed:.0f} s, {settled:.0f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    lines.append("")
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def _faults(injected: Injected) -> list[str]:
    """The faults themselves, not their ends (SIGCONT, leaving)."""
    return [w for _, w in injected.done if not w.startswith("SIGCONT") and "leaves" not in w]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the storm lasts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-chaos-") as directory:
        code = asyncio.run(campaign(args.seed, args.alerts, args.duration, Path(directory)))
    sys.exit(code)


if __name__ == "__main__":
    main()
