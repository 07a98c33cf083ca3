"""The load generator, run as its own process so it does not share Corral's event loop.

``throughput``: as many concurrent senders as asked, each posting webhooks
of one traffic shape (``bench.perf.alerts.SHAPES``) back to back, honouring
503 + Retry-After as Alertmanager does. Bodies are rendered before the clock
starts (as the limit step encodes its messages first), so the generator's own
JSON work does not take CPU from Corral on a shared machine; if the load
outlasts them, the rest is rendered live.
``latency``: a fixed alert rate, every request opening an incident of its
own (cluster ``lat-<seq>``), with each request's send time recorded so the
receiver side can compute request → notification latency.
Prints one JSON object with what it did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter, deque
from typing import Any

import aiohttp

from bench.perf.alerts import SHAPES, Traffic, webhook
from shared.service import run


def render(traffic: Traffic, seq: int) -> tuple[int, bytes]:
    alerts = traffic.batch()
    return len(alerts), json.dumps(webhook(alerts, seq)).encode()


async def throughput(
    url: str, duration: float, concurrency: int, seed: int, prepare: int, shape: str
) -> dict[str, Any]:
    traffic = Traffic(seed=seed, shape=shape)
    prepared = deque(render(traffic, seq) for seq in range(1, prepare + 1))
    statuses: Counter[int] = Counter()
    accepted = 0
    sent = 0
    seq = prepare
    live = 0
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal accepted, sent, seq, live
        while time.perf_counter() < deadline:
            if prepared:
                count, body = prepared.popleft()
            else:
                seq += 1
                live += 1
                count, body = render(traffic, seq)
            async with session.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                await response.read()
                statuses[response.status] += 1
                sent += count
                if response.status == 200:
                    accepted += count
                elif response.status == 503:
                    await asyncio.sleep(min(1.0, float(response.headers.get("Retry-After", 1))))

    deadline = time.perf_counter() + duration
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "mode": "throughput",
        "shape": shape,
        "elapsed_s": elapsed,
        "requests_prepared": prepare,
        "requests_rendered_live": live,
        "alerts_sent": sent,
        "alerts_accepted": accepted,
        "statuses": {str(k): v for k, v in statuses.items()},
        "accepted_per_s": accepted / elapsed,
    }


async def latency(url: str, duration: float, rate: float, batch: int, seed: int) -> dict[str, Any]:
    traffic = Traffic(seed=seed, clusters=1)
    interval = batch / rate
    send_times: dict[str, float] = {}
    statuses: Counter[int] = Counter()
    tasks: set[asyncio.Task[None]] = set()

    async def send(session: aiohttp.ClientSession, seq: int) -> None:
        group = traffic.group(f"lat-{seq}")
        alerts = [traffic.alert(group) for _ in range(batch)]
        body = json.dumps(webhook(alerts, seq)).encode()
        send_times[f"lat-{seq}"] = time.time()
        async with session.post(
            url, data=body, headers={"Content-Type": "application/json"}
        ) as response:
            await response.read()
            statuses[response.status] += 1

    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        seq = 0
        while time.perf_counter() - start < duration:
            seq += 1
            task = asyncio.create_task(send(session, seq))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            # Absolute schedule: a slow response never lowers the offered rate.
            await asyncio.sleep(max(0.0, start + seq * interval - time.perf_counter()))
        await asyncio.gather(*tasks)
    return {
        "mode": "latency",
        "requests": seq,
        "alerts_sent": seq * batch,
        "statuses": {str(k): v for k, v in statuses.items()},
        "send_times": send_times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["throughput", "latency"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=1000.0, help="alerts/s (latency mode)")
    parser.add_argument("--batch", type=int, default=10, help="alerts a request (latency mode)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shape", choices=SHAPES, default="mixed", help="throughput mode")
    parser.add_argument(
        "--prepare", type=int, default=0, help="requests rendered before the clock starts"
    )
    args = parser.parse_args()
    if args.mode == "throughput":
        result = run(
            throughput(
                args.url, args.duration, args.concurrency, args.seed, args.prepare, args.shape
            )
        )
    else:
        result = run(latency(args.url, args.duration, args.rate, args.batch, args.seed))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
