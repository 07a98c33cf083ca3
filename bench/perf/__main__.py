"""``make bench``: measure Corral against the limit of its broker, on the embedded broker.

1. limit: Corral's alert messages through a bare aiokafka producer and consumer,
   the producer plain (``send()`` per record) and then batched as Corral's
   publisher writes (``bench.perf.limit``);
2. throughput: webhooks from a separate load generator process, through
   ingest, triage and notify to a local webhook receiver, sustained, in three
   shapes (``bench.perf.alerts``): ``mixed`` (8 clusters, re-sends, few
   incidents), ``incidents`` (every webhook a new incident of 100 alerts) and
   ``singles`` (one alert per webhook);
   http: the same load against a server that only answers (``bench.perf.ceiling``):
   what HTTP alone allows on this machine, which bounds one-alert webhooks;
3. latency at a fixed 1,000 alerts/s: request → notification p50/p95/p99;
4. memory: triage's resident size with 100,000 and 1,000,000 active alerts,
   spread over 8 clusters and in incidents of 100;
5. alone: each worker alone, and triage and notify with more processes
   (``bench.perf.alone``), per shape and per partition count;
6. every figure printed, with Corral ÷ limit (both limits), and written as JSON.

The limit, HTTP-only and throughput runs alternate (a limit run before every
shape's run), so that each pair of runs saw the same machine; each figure is the
best of its runs, and each shape's ratio the median of its paired runs' ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.perf import alone, limit, memory
from bench.perf.alerts import SHAPES
from bench.perf.stack import (
    Receiver,
    cpu_seconds,
    rss_bytes,
    scrape,
    start_pipeline,
    wait_consumed,
    wait_drained,
    write_config,
)
from services.corral.embedded import EmbeddedBroker, free_port
from shared import service
from shared.config import KafkaSettings, TopicNames
from shared.kafka.topics import TopicSpec, ensure_topics
from shared.service import wait_ready

ROOT = Path(__file__).resolve().parents[2]
# Webhooks the load generator renders before the throughput clock starts, per
# second of load; above what Corral answered on the reference machines, so none
# is rendered live (``requests_rendered_live`` in the results says if some were).
PREPARED_REQUESTS_PER_S = {"mixed": 400, "incidents": 600, "singles": 6000}
IDLE_S = 3.0  # a worker's tick is every second: two pass with nothing to handle


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def run_module(*args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, stdout=subprocess.PIPE, cwd=ROOT
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed with code {process.returncode}")
    return json.loads(out)


async def measure_limit(
    bootstrap: str, broker_pid: int, count: int, partitions: int, run: str, batched: bool = False
) -> dict[str, Any]:
    """The limit, its producer plain or ``batched`` (``bench.perf.limit``)."""
    settings = KafkaSettings(bootstrap_servers=bootstrap, partitions=partitions)
    run = f"{run}-batched" if batched else run
    topic = f"bench.limit.{run}"
    await ensure_topics(settings, [TopicSpec(topic)])
    records = limit.messages(count)
    consumer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.perf.limit",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--count",
        str(count),
        "--group",
        f"bench-limit-{run}",
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert consumer.stdout is not None
    await consumer.stdout.readline()  # "ready": it has joined its group
    broker_cpu = cpu_seconds(broker_pid)
    started, producer_cpu = await limit.produce(settings, topic, records, batched)
    produced = time.time()
    out, _ = await consumer.communicate()
    broker_cpu = cpu_seconds(broker_pid) - broker_cpu
    consumed = json.loads(out)
    finished = consumed["finished"]
    cpu = {"producer": producer_cpu, "consumer": consumed["cpu_s"], "broker": broker_cpu}
    return {
        "messages": count,
        "bytes_per_message": round(sum(len(v) for _, v in records) / count),
        "produce_per_s": count / (produced - started),
        "alerts_per_s": count / (finished - started),
        "cpu_us_per_record": {name: seconds / count * 1e6 for name, seconds in cpu.items()},
    }


@dataclass
class Drive:
    load: dict[str, Any]  # the load generator's report
    drain_s: float  # after the load, until every consumer caught up
    triaged: float  # alerts triage consumed
    revisions: float  # incident revisions notify consumed
    cpu_s: dict[str, float]  # CPU seconds each process used meanwhile
    gc_s: dict[str, float]  # seconds each worker's garbage collector paused it meanwhile


async def drive(
    config_path: Path, mode: str, watch: dict[str, int] | None = None, **options: float | str
) -> Drive:
    """The pipeline under the load generator until every consumer has caught up,
    with the CPU time of its workers and of the ``watch`` processes."""
    flags = [part for name, value in options.items() for part in (f"--{name}", str(value))]
    supervisor, config = await start_pipeline(config_path)
    try:
        pids = {name: p.pid for name, p in supervisor.processes.items()} | (watch or {})
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        workers = {name: getattr(config, name).listen for name in supervisor.processes}
        paused = {name: await gc_seconds(listen) for name, listen in workers.items()}
        url = f"http://{config.ingest.listen}/api/v1/alerts/alertmanager"
        load = await run_module("bench.perf.loadgen", mode, "--url", url, *flags)
        # The incident store is part of the pipeline's capacity: a run ends
        # when it too has stored every revision and outcome.
        drain = await wait_drained(
            [config.triage.listen, config.notify.listen, config.incidents.listen]
        )
        cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        gc_s = {name: await gc_seconds(listen) - paused[name] for name, listen in workers.items()}
        triaged = await scrape(config.triage.listen, "corral_messages_consumed_total")
        incidents_topic = f'topic="{config.kafka.topics.incidents}"'
        revisions = await scrape(
            config.notify.listen,
            "corral_messages_consumed_total",
            lambda labels: incidents_topic in labels,
        )
        return Drive(load, drain, triaged, revisions, cpu, gc_s)
    finally:
        await supervisor.terminate_all()


async def gc_seconds(listen: str) -> float:
    return await scrape(listen, "corral_gc_pause_seconds_sum")


async def measure_throughput(
    config_path: Path,
    receiver: Receiver,
    duration: float,
    concurrency: int,
    broker_pid: int,
    shape: str,
) -> dict[str, Any]:
    notified_before = receiver.notifications
    run = await drive(
        config_path,
        "throughput",
        watch={"broker": broker_pid, "receiver": os.getpid()},
        duration=duration,
        concurrency=concurrency,
        prepare=int(duration * PREPARED_REQUESTS_PER_S[shape]),
        shape=shape,
    )
    load, drain = run.load, run.drain_s
    total = load["elapsed_s"] + drain
    return {
        "shape": shape,
        "load_average": os.getloadavg(),
        "duration_s": load["elapsed_s"],
        "drain_s": drain,
        "alerts_accepted": load["alerts_accepted"],
        "alerts_triaged": run.triaged,
        # Where the two cores went (the load generator's own is not counted;
        # "receiver" is this process: the webhook receiver and the polling).
        "cpu_us_per_alert": {
            name: seconds / load["alerts_accepted"] * 1e6 for name, seconds in run.cpu_s.items()
        },
        "gc_pause_s": run.gc_s,
        "revisions": run.revisions,
        "cpu_us_per_revision": {
            name: seconds / max(run.revisions, 1) * 1e6 for name, seconds in run.cpu_s.items()
        },
        "statuses": load["statuses"],
        "requests_rendered_live": load["requests_rendered_live"],
        "notifications": receiver.notifications - notified_before,
        "ingest_alerts_per_s": load["accepted_per_s"],
        "sustained_alerts_per_s": load["alerts_accepted"] / total,
    }


async def measure_ceiling(duration: float, concurrency: int, shape: str) -> dict[str, Any]:
    """The same load against ``bench.perf.ceiling``: what HTTP alone allows here."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.perf.ceiling", "--port", str(port), stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        await server.stdout.readline()  # "ready"
        before = cpu_seconds(server.pid)
        load = await run_module(
            "bench.perf.loadgen",
            "throughput",
            "--url",
            f"http://127.0.0.1:{port}/api/v1/alerts/alertmanager",
            "--duration",
            str(duration),
            "--concurrency",
            str(concurrency),
            "--prepare",
            str(int(duration * PREPARED_REQUESTS_PER_S[shape])),
            "--shape",
            shape,
        )
        cpu = cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        await server.wait()
    requests = sum(load["statuses"].values())
    return {
        "shape": shape,
        "load_average": os.getloadavg(),
        "alerts_per_s": load["accepted_per_s"],
        "requests_per_s": requests / load["elapsed_s"],
        "server_cpu_us_per_request": cpu / max(requests, 1) * 1e6,
        "requests_rendered_live": load["requests_rendered_live"],
    }


async def measure_latency(
    config_path: Path, receiver: Receiver, duration: float, rate: float
) -> dict[str, Any]:
    load = (await drive(config_path, "latency", duration=duration, rate=rate, batch=10)).load
    sent: dict[str, float] = load["send_times"]
    latencies = sorted(
        (receiver.first_seen[k] - t) * 1000 for k, t in sent.items() if k in receiver.first_seen
    )
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0]
    return {
        "rate_alerts_per_s": rate,
        "requests": load["requests"],
        "statuses": load["statuses"],
        "notified": len(latencies),
        "missing": len(sent) - len(latencies),
        "p50_ms": q[49],
        "p95_ms": q[94],
        "p99_ms": q[98],
        "max_ms": latencies[-1] if latencies else None,
    }


def resident(pid: int, baseline: int, alerts: int) -> dict[str, Any]:
    """A worker's resident size now, and per alert above its idle ``baseline``."""
    rss = rss_bytes(pid)
    return {"active_alerts": alerts, "rss_bytes": rss, "bytes_per_alert": (rss - baseline) / alerts}


async def measure_memory(config_path: Path, sizes: list[int], layout: str) -> dict[str, Any]:
    """A triage worker alone, fed alerts straight from Kafka (``memory.LAYOUTS``)."""
    from services.corral.config import load

    config = load(config_path, env={})
    listen, topics = config.triage.listen, config.kafka.topics

    def start() -> Awaitable[asyncio.subprocess.Process]:
        command = ("-m", "services.corral.cli", "triage", "--config", str(config_path))
        return asyncio.create_subprocess_exec(sys.executable, *command, cwd=ROOT)

    process = await start()
    settings = config.kafka
    try:
        await wait_ready(listen)
        baseline = rss_bytes(process.pid)
        result: dict[str, Any] = {"layout": layout, "baseline_rss_bytes": baseline, "points": []}
        fed = 0
        for size in sizes:
            await memory.produce(settings, topics.alerts, fed, size - fed, layout)
            fed = size
            await wait_consumed(listen, size)
            # Resident once idle: a worker that caught up gives back what its
            # batches held in flight at its first tick with nothing handled
            # since the one before (``shared.memory``).
            await asyncio.sleep(IDLE_S)
            result["points"].append(resident(process.pid, baseline, size))
        # A worker that starts on that state restores it from the changelog
        # (ready once restored), then idles: what it holds after a restart.
        process.terminate()
        await process.wait()
        started = time.monotonic()
        process = await start()
        await wait_ready(listen, timeout=600)
        restore_s = time.monotonic() - started
        await asyncio.sleep(IDLE_S)
        result["restored"] = {**resident(process.pid, baseline, fed), "restore_s": restore_s}
        return result
    finally:
        process.terminate()
        await process.wait()


async def measure_alone(
    config_for: Any, receiver: Receiver, shape: str, args: argparse.Namespace, partitions: int
) -> dict[str, Any]:
    async def load(url: str) -> dict[str, Any]:
        return await run_module(
            "bench.perf.loadgen",
            "throughput",
            "--url",
            url,
            "--shape",
            shape,
            "--duration",
            str(args.duration),
            "--concurrency",
            str(args.concurrency),
            "--prepare",
            str(int(args.duration * PREPARED_REQUESTS_PER_S[shape])),
        )

    result = await alone.measure(config_for, receiver, load, args.processes)
    return {**result, "shape": shape, "partitions": partitions, "load_average": os.getloadavg()}


def alone_config(
    config: Callable[..., Path], shape: str, partitions: int, run: str, overrides: dict[str, Any]
) -> Path:
    """A run of the alone step: topics of its own for each shape and partition
    count, and consumers given time for heartbeats on loaded cores. Two
    processes of one group on two busy cores missed a 3 s session timeout,
    and the rebalances that followed were counted as their pace."""
    step = f"alone-{shape}-p{partitions}"
    kafka = {
        **overrides.get("kafka", {}),
        "partitions": partitions,
        "session_timeout": "10s",
        "heartbeat_interval": "1s",
    }
    return config(step, {**overrides, "kafka": kafka}, file=f"{step}-{run}")


def best_of(runs: list[dict[str, Any]], figure: str) -> dict[str, Any]:
    """The run with the highest ``figure``, with every run's ``figure`` as ``runs_<figure>``."""
    best = max(runs, key=lambda run: run[figure])
    return {**best, f"runs_{figure}": [run[figure] for run in runs]}


def ratios(limit: dict[str, Any], throughput: dict[str, Any]) -> dict[str, Any]:
    """Corral ÷ limit: the median over runs paired back to back, and best ÷ best
    (from ``best_of`` results, which list every run)."""
    paired = [
        corral / bare
        for bare, corral in zip(
            limit["runs_alerts_per_s"], throughput["runs_sustained_alerts_per_s"], strict=True
        )
    ]
    return {
        "ratio": statistics.median(paired),
        "paired_ratios": paired,
        "ratio_of_bests": throughput["sustained_alerts_per_s"] / limit["alerts_per_s"],
    }


def report(results: dict[str, Any]) -> str:
    lat = results.get("latency")
    lines = [f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores"]
    for name, title in (
        ("limit", "limit       bare producer+consumer "),
        ("batched_limit", "            the same, batched      "),
    ):
        lim = results.get(name)
        if not lim:
            continue
        lines.append(
            f"{title} {lim['alerts_per_s']:>10,.0f} alerts/s "
            f"({lim['messages']:,} messages of {lim['bytes_per_message']} B, best of "
            f"{', '.join(f'{r:,.0f}' for r in lim['runs_alerts_per_s'])})"
        )
        cpu = ", ".join(f"{part} {us:.1f}" for part, us in lim["cpu_us_per_record"].items())
        lines.append(f"{'':<11} µs per record, best run     {cpu}")
    for shape, figures in results.get("shapes", {}).items():
        thr = figures["throughput"]
        sustained = thr["sustained_alerts_per_s"]
        lines.append(
            f"{shape:<11} Corral sustained         {sustained:>10,.0f} alerts/s "
            f" ({thr['alerts_accepted']:,} alerts in {thr['duration_s']:.1f} s "
            f"+ {thr['drain_s']:.1f} s drain; ingest answered {thr['statuses']}; best of "
            f"{', '.join(f'{r:,.0f}' for r in thr['runs_sustained_alerts_per_s'])}; "
            f"load {thr['load_average'][0]:.2f})"
        )
        cpu = ", ".join(f"{name} {us:.1f}" for name, us in thr["cpu_us_per_alert"].items())
        lines.append(f"{'':<11} µs per alert, best run      {cpu}")
        paused = ", ".join(f"{name} {seconds:.2f}" for name, seconds in thr["gc_pause_s"].items())
        lines.append(f"{'':<11} GC pauses, s, best run      {paused}")
        per_revision = ", ".join(
            f"{name} {us / 1000:.2f}" for name, us in thr["cpu_us_per_revision"].items()
        )
        lines.append(f"{'':<11} ms per revision ({thr['revisions']:,.0f})  {per_revision}")
        if "ratio" in figures:
            paired = ", ".join(f"{r:.1%}" for r in figures["paired_ratios"])
            lines.append(
                f"{'':<11} Corral / limit           {figures['ratio']:>10.1%}  (median of "
                f"runs paired back to back: {paired}; best / best "
                f"{figures['ratio_of_bests']:.1%})"
            )
        if "batched_limit" in figures:
            batched = figures["batched_limit"]
            paired = ", ".join(f"{r:.1%}" for r in batched["paired_ratios"])
            lines.append(
                f"{'':<11} Corral / batched limit   {batched['ratio']:>10.1%}  (median of "
                f"runs paired back to back: {paired}; best / best "
                f"{batched['ratio_of_bests']:.1%})"
            )
        if "http_only" in figures:
            http = figures["http_only"]
            # Bodies rendered live mean the load generator, not the server, set the pace.
            bound = (
                f"; a floor: {http['requests_rendered_live']:,} bodies rendered live"
                if http["requests_rendered_live"]
                else ""
            )
            lines.append(
                f"{'':<11} HTTP only (no Kafka)     {http['alerts_per_s']:>10,.0f} alerts/s "
                f" ({http['requests_per_s']:,.0f} requests/s, server "
                f"{http['server_cpu_us_per_request']:.0f} µs CPU per request; Corral / HTTP only "
                f"{http['ratio']:.1%}{bound})"
            )
    if lat:
        lines.append(
            f"latency     at {lat['rate_alerts_per_s']:,.0f} alerts/s          "
            f"p50 {lat['p50_ms']:.1f} ms  p95 {lat['p95_ms']:.1f} ms  "
            f"p99 {lat['p99_ms']:.1f} ms  (max {lat['max_ms']:.1f} ms, "
            f"{lat['notified']} incidents, {lat['missing']} missing)"
        )
    for runs in results.get("alone", {}).values():
        lines.append(
            f"alone       {runs['shape']}, {runs['partitions']} partitions: "
            f"{runs['alerts']:,} alerts (load {runs['load_average'][0]:.2f} after)"
        )
        for name, run in runs.items():
            if not isinstance(run, dict):
                continue
            if run["records_per_s"] is None:
                lines.append(f"{'':<11} {name:<10} backlog too small to time")
                continue
            alerts = run.get("alerts_per_s", run["records_per_s"])
            lines.append(
                f"{'':<11} {name:<10} {run['records_per_s']:>10,.0f} records/s "
                f"({alerts:,.0f} alerts/s), {run['cpu_us_per_record']:.1f} µs CPU per record"
            )
    for layout, run in results.get("memory", {}).items():
        lines.extend(
            f"memory      {layout:<9} {point['active_alerts']:>9,} active alerts  "
            f"{point['rss_bytes'] / 2**20:>8.1f} MiB RSS  "
            f"{point['bytes_per_alert']:>7.0f} B/alert"
            for point in run["points"]
        )
        if "restored" in run:
            point = run["restored"]
            lines.append(
                f"{'':<21} restarted: {point['rss_bytes'] / 2**20:>8.1f} MiB RSS  "
                f"{point['bytes_per_alert']:>7.0f} B/alert, restored in {point['restore_s']:.1f} s"
            )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "args": vars(args),
    }
    broker = EmbeddedBroker()
    broker.start()
    await broker.wait_ready()
    receiver = await Receiver().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:

            def config(
                step: str, overrides: dict[str, Any] | None = None, file: str | None = None
            ) -> Path:
                """Topics and groups of the step's own: no step inherits another's state."""
                topics = {k: f"{v}.{step}" for k, v in TopicNames().model_dump().items()}
                extra = {
                    "kafka": {
                        "bootstrap_servers": broker.bootstrap_servers,
                        "session_timeout": "3s",
                        "heartbeat_interval": "500ms",
                        "topics": topics,
                    },
                    "triage": {"group_id": f"triage-{step}"},
                    "notify": {"group_id": f"notify-{step}"},
                }
                for section, values in (overrides or {}).items():
                    extra[section] = {**extra.get(section, {}), **values}
                return write_config(Path(tmp) / f"{file or step}.yml", receiver.port, extra)

            # Both are capacities, and noisy ones on a shared VM (CPU speed
            # here swings by a third within minutes). They are measured in
            # turns, a limit run then a Corral run, so that each pair saw the
            # same machine; each figure is the best of its runs.
            assert broker.process is not None
            broker_pid = broker.process.pid
            # A limit run before every shape's run: each shape's pairs.
            shapes = args.shapes if {"throughput", "http"} & set(args.steps) else [""]
            ceilings: dict[str, list[dict[str, Any]]] = {shape: [] for shape in shapes}
            limits: dict[str, list[dict[str, Any]]] = {shape: [] for shape in shapes}
            batched_limits: dict[str, list[dict[str, Any]]] = {shape: [] for shape in shapes}
            throughputs: dict[str, list[dict[str, Any]]] = {shape: [] for shape in shapes}
            for run in range(args.runs):
                for shape in shapes:
                    if "limit" in args.steps:
                        for batched, runs in ((False, limits), (True, batched_limits)):
                            runs[shape].append(
                                await measure_limit(
                                    broker.bootstrap_servers,
                                    broker_pid,
                                    args.limit_messages,
                                    6,
                                    f"{run}{shape}",
                                    batched,
                                )
                            )
                    if shape and "http" in args.steps:
                        ceilings[shape].append(
                            await measure_ceiling(args.duration, args.concurrency, shape)
                        )
                    if shape and "throughput" in args.steps:
                        throughputs[shape].append(
                            await measure_throughput(
                                config(f"throughput-{shape}-{run}"),
                                receiver,
                                args.duration,
                                args.concurrency,
                                broker_pid,
                                shape,
                            )
                        )
            for name, found in (("limit", limits), ("batched_limit", batched_limits)):
                every_run = [run for runs in found.values() for run in runs]
                if every_run:
                    results[name] = best_of(every_run, "alerts_per_s")
            results["shapes"] = {}
            for shape, runs in throughputs.items():
                if not runs:
                    continue
                figures = {"throughput": best_of(runs, "sustained_alerts_per_s")}
                if limits[shape]:
                    figures.update(
                        ratios(best_of(limits[shape], "alerts_per_s"), figures["throughput"])
                    )
                if batched_limits[shape]:
                    figures["batched_limit"] = best_of(batched_limits[shape], "alerts_per_s")
                    figures["batched_limit"].update(
                        ratios(figures["batched_limit"], figures["throughput"])
                    )
                if ceilings[shape]:
                    figures["http_only"] = best_of(ceilings[shape], "alerts_per_s")
                    figures["http_only"].update(ratios(figures["http_only"], figures["throughput"]))
                results["shapes"][shape] = figures
            if "latency" in args.steps:
                results["latency"] = await measure_latency(
                    config("latency"), receiver, args.latency_duration, args.rate
                )
            if "memory" in args.steps:
                results["memory"] = {
                    layout: await measure_memory(
                        config(f"memory-{layout}"), args.memory_sizes, layout
                    )
                    for layout in args.memory_layouts
                }
            if "alone" in args.steps:
                results["alone"] = {}
                for shape in args.shapes:
                    for partitions in args.partitions:
                        results["alone"][f"{shape} p{partitions}"] = await measure_alone(
                            functools.partial(alone_config, config, shape, partitions),
                            receiver,
                            shape,
                            args,
                            partitions,
                        )
    finally:
        await receiver.stop()
        broker.stop()
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--steps",
        nargs="+",
        default=["limit", "http", "throughput", "latency", "memory", "alone"],
        choices=["limit", "http", "throughput", "latency", "memory", "alone"],
    )
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1, 2],
        help="triage and notify processes in the alone step",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        nargs="+",
        default=[6],
        help="partitions of every topic in the alone step, one run each",
    )
    parser.add_argument(
        "--shapes", nargs="+", default=list(SHAPES), choices=SHAPES, help="throughput shapes"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="throughput load, seconds")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-duration", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="alerts/s for latency")
    parser.add_argument("--limit-messages", type=int, default=300_000)
    parser.add_argument(
        "--runs", type=int, default=3, help="limit and throughput runs, taken in turns"
    )
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--memory-layouts",
        nargs="+",
        default=list(memory.LAYOUTS),
        choices=memory.LAYOUTS,
        help="how the memory step's alerts fall into incidents (bench.perf.memory)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    args = parser.parse_args()
    results = service.run(main(args))
    print(report(results))
    out = args.out or ROOT / "bench" / "results" / f"perf-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"results written to {out}")


if __name__ == "__main__":
    cli()
