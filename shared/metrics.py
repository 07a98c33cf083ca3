"""Prometheus metrics every worker exports, and the helpers to expose them.

Names follow Prometheus conventions: ``corral_`` prefix, base units,
``_total`` for counters, ``_seconds`` for durations. Service-specific metrics
live in each service's own ``metrics`` module; the ones here describe the
plumbing all workers share.
"""

from __future__ import annotations

import platform
from importlib import metadata

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client import generate_latest as _generate_latest

# A ``_created`` gauge beside every counter and histogram doubles the series
# Prometheus stores for no query anyone writes; every metric module imports
# this one first, so this applies before any metric exists.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

BUILD_INFO = Info("corral_build", "Corral version and runtime of this worker.")
CONSUMER_LAG = Gauge(
    "corral_consumer_lag_messages",
    "Messages between the consumer's position and the partition's high-water mark.",
    ["group", "topic", "partition"],
)
MESSAGES_CONSUMED = Counter(
    "corral_messages_consumed_total", "Kafka records consumed.", ["group", "topic"]
)
MESSAGES_PUBLISHED = Counter(
    "corral_messages_published_total", "Kafka records acknowledged by the broker.", ["topic"]
)
PUBLISH_ERRORS = Counter(
    "corral_publish_errors_total", "Kafka writes the broker did not acknowledge.", ["topic"]
)
BATCH_SECONDS = Histogram(
    "corral_batch_processing_seconds",
    "Time to process one consumed batch, outputs acknowledged, before the commit.",
    ["group"],
    buckets=LATENCY_BUCKETS,
)
COMMITS = Counter("corral_offset_commits_total", "Offset commits.", ["group"])
CONSUMER_STALLED = Gauge(
    "corral_consumer_stalled_seconds",
    "Seconds since the consumer last made progress on a partition while records "
    "wait on it (0 when none wait).",
    ["group", "topic", "partition"],
)
RECORDS_QUARANTINED = Counter(
    "corral_records_quarantined_total",
    "Records set aside on the quarantine topic: input a stage failed on, "
    "or output the broker refused.",
    ["worker", "stage"],
)
RESTORE_FAILURES = Counter(
    "corral_state_restore_failures_total",
    "Attempts to restore a partition's state that failed (an unreadable changelog record).",
    ["group"],
)
PARTITIONS_UNRESTORED = Gauge(
    "corral_partitions_unrestored",
    "Assigned partitions held paused because their state could not be restored.",
    ["group"],
)
KAFKA_CLIENTS_REPLACED = Counter(
    "corral_kafka_clients_replaced_total",
    "Times a worker closed its Kafka clients after one failed with an error the client "
    "does not retry, and started them again.",
    ["worker"],
)
GC_PAUSES = Histogram(
    "corral_gc_pause_seconds",
    "Runs of the cyclic garbage collector, by generation: each one pauses the worker.",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


def set_build_info(service: str) -> None:
    try:
        version = metadata.version("corral")
    except metadata.PackageNotFoundError:
        version = "unknown"
    BUILD_INFO.info({"version": version, "service": service, "python": platform.python_version()})


def generate_latest() -> tuple[bytes, str]:
    return _generate_latest(REGISTRY), CONTENT_TYPE_LATEST
