"""Fuzzing the real workers' APIs: Schemathesis from each worker's own
``/api/openapi.json``, plus Hypothesis bodies no schema describes.

``corral ingest``, ``corral notify`` and ``corral incidents`` run as their own processes on the
test broker, with authentication on (the fuzzer holds the admin's and the
sender's credentials, so requests reach the handlers). Every operation gets
schema-valid and schema-invalid requests (Schemathesis' positive and negative
modes) and raw bodies (truncated JSON, deep nesting, huge numbers, bytes);
no answer may be a 5xx, no worker may die, and each worker's resident memory
stays bounded. Seeds are fixed (``derandomize``), so CI sees the same
requests every run. The counts per operation are printed with ``-s``.
"""

from __future__ import annotations

import base64
import collections
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from shared.config import KafkaSettings
from tests.fuzz.workers import Running, rss_mib, start_worker

pytestmark = pytest.mark.broker

ADMIN = ("oncall", "fuzz-admin-password")
SENDER = ("alertmanager", "fuzz-sender-password")
MAX_RSS_MIB = 400
"""Well under the 512 MiB the Kubernetes manifests give ingest and notify."""

# Small limits: bodies stay small enough to generate quickly, and the
# generators (which read the limits from the served OpenAPI document) reach
# every bound on both sides within a few hundred requests.
SETTINGS: dict[str, dict[str, object]] = {
    "ingest": {
        "limits": {
            "max_alerts_per_request": 5,
            "max_labels_per_alert": 8,
            "max_label_name_length": 32,
            "max_label_value_length": 64,
            "max_annotations_per_alert": 4,
            "max_annotation_value_length": 128,
            "max_url_length": 128,
        },
        "webhooks": [
            {
                "name": "fuzz",
                "alerts": "events",
                "labels": {"alertname": "name", "severity": "level", "tags": "join(',', tags)"},
                "annotations": {"summary": "text"},
                "resolved": "state == 'ok'",
                "starts_at": "since",
            }
        ],
    },
    "notify": {
        "silences": {"max_matchers": 4, "max_matcher_length": 64, "max_comment_length": 128}
    },
}

COUNTS: collections.Counter[str] = collections.Counter()
SERVER_ERRORS: list[str] = []


def basic(user: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(":".join(user).encode()).decode()}


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def workers(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Running]]:
    from tests.conftest import kafka_settings_for

    kafka: KafkaSettings = kafka_settings_for(kafka_bootstrap)
    directory = tmp_path_factory.mktemp("fuzz")
    started = {
        name: start_worker(name, kafka, directory, ADMIN, SENDER) for name in ("ingest", "notify")
    }
    started["incidents"] = start_worker(
        "incidents",
        kafka,
        directory,
        ADMIN,
        SENDER,
        {"data_dir": str(directory / "incidents"), "pagerduty": {"webhook_secret": "fuzz"}},
    )
    try:
        yield started
    finally:
        for worker in started.values():
            worker.stop()
        if COUNTS:
            print("\nfuzzing: requests per operation (5xx seen):")
            for operation, count in sorted(COUNTS.items()):
                print(f"  {operation:55} {count:6}")
            print(f"  {'total':55} {sum(COUNTS.values()):6}  5xx: {len(SERVER_ERRORS)}")


def record(operation: str, response: requests.Response, what: str) -> None:
    COUNTS[operation] += 1
    if response.status_code >= 500:
        SERVER_ERRORS.append(f"{operation}: {response.status_code} for {what[:300]}")
    assert response.status_code < 500, f"{operation} answered {response.status_code}: {what[:500]}"


def schema_of(worker: Running) -> schemathesis.BaseSchema:
    document = requests.get(f"{worker.url}/api/openapi.json", headers=basic(ADMIN), timeout=10)
    document.raise_for_status()
    return schemathesis.openapi.from_dict(document.json())


OPERATIONS = {
    "ingest": [
        ("/api/v1/alerts/alertmanager", "POST", SENDER, 400),
        ("/api/v2/alerts", "POST", SENDER, 400),
        ("/api/v1/incidents/{id}/feedback", "POST", ADMIN, 300),
        ("/api/v1/alerts/grafana", "POST", SENDER, 300),
        ("/api/v1/alerts/webhook/{name}", "POST", SENDER, 200),
    ],
    "notify": [
        ("/api/v1/silences", "POST", ADMIN, 400),
        ("/api/v1/silences", "GET", ADMIN, 5),
        ("/api/v1/silences/{id}", "GET", ADMIN, 100),
        ("/api/v1/silences/{id}", "DELETE", ADMIN, 100),
        ("/api/v2/silences", "POST", ADMIN, 300),
        ("/api/v2/silences", "GET", ADMIN, 50),
        ("/api/v2/silence/{silenceID}", "GET", ADMIN, 50),
        ("/api/v2/silence/{silenceID}", "DELETE", ADMIN, 50),
        ("/api/v2/alerts", "GET", ADMIN, 100),
        ("/api/v2/alerts/groups", "GET", ADMIN, 50),
        ("/api/v2/status", "GET", ADMIN, 5),
    ],
    "incidents": [
        ("/api/v1/incidents", "GET", ADMIN, 150),
        ("/api/v1/incidents/{id}", "GET", ADMIN, 50),
        ("/api/v1/incidents/{id}/review", "GET", ADMIN, 50),
        ("/api/v1/incidents/{id}/assign", "POST", ADMIN, 100),
        ("/api/v1/incidents/{id}/snooze", "POST", ADMIN, 150),
    ],
}
CASES = [(name, *operation) for name, operations in OPERATIONS.items() for operation in operations]


@pytest.mark.parametrize(
    ("name", "path", "method", "user", "examples"),
    CASES,
    ids=[f"{method} {path}" for _, path, method, _, _ in CASES],
)
def test_schemathesis_finds_no_server_error(
    workers: dict[str, Running],
    name: str,
    path: str,
    method: str,
    user: tuple[str, str],
    examples: int,
) -> None:
    worker = workers[name]
    operation = schema_of(worker)[path][method]
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )
    label = f"{name} {method} {path} (schemathesis)"
    session = requests.Session()

    @fuzz_settings(examples)
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        response = case.call(base_url=worker.url, session=session, headers=basic(user), timeout=15)
        record(label, response, f"{case.path_parameters} {case.body!r}")

    fuzz()
    assert worker.alive(), worker.log()
    assert rss_mib(worker) < MAX_RSS_MIB


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


def raw_bodies() -> st.SearchStrategy[bytes]:
    """What no schema describes: not JSON, truncated JSON, odd JSON, deep nesting, big numbers."""
    as_json: Callable[[Any], bytes] = lambda value: json.dumps(value).encode()  # noqa: E731
    return st.one_of(
        st.binary(max_size=300),
        JSON_VALUES.map(as_json),
        JSON_VALUES.map(as_json).map(lambda b: b[: max(1, len(b) // 2)]),
        st.integers(min_value=1, max_value=20_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(min_value=1, max_value=5000).map(
            lambda n: b'[{"labels":{"a":' + b"9" * n + b"}}]"
        ),
        st.just(b'{"version":"4","alerts":[{"labels":{"\\ud800":"x"}}]}'),
    )


RAW_TARGETS = [
    ("ingest", "/api/v1/alerts/alertmanager", SENDER),
    ("ingest", "/api/v2/alerts", SENDER),
    ("ingest", "/api/v1/incidents/inc-1/feedback", ADMIN),
    ("ingest", "/api/v1/alerts/grafana", SENDER),
    ("ingest", "/api/v1/alerts/webhook/fuzz", SENDER),
    ("notify", "/api/v1/silences", ADMIN),
    ("notify", "/api/v2/silences", ADMIN),
    ("incidents", "/api/v1/incidents/inc-1/notes", ADMIN),
    ("incidents", "/api/v1/integrations/pagerduty", ADMIN),
]


@pytest.mark.parametrize(("name", "path", "user"), RAW_TARGETS, ids=[t[1] for t in RAW_TARGETS])
def test_raw_bodies_are_refused_cleanly(
    workers: dict[str, Running], name: str, path: str, user: tuple[str, str]
) -> None:
    worker = workers[name]
    session = requests.Session()
    label = f"{name} POST {path} (raw bodies)"
    headers = {**basic(user), "Content-Type": "application/json"}

    @fuzz_settings(150)
    @given(body=raw_bodies())
    def fuzz(body: bytes) -> None:
        response = session.post(f"{worker.url}{path}", data=body, headers=headers, timeout=15)
        record(label, response, repr(body))
        assert response.status_code in (200, 202, 400, 404, 413, 422), response.text

    fuzz()
    assert worker.alive(), worker.log()


def test_every_refusal_names_a_field_and_the_worker_logs_no_crash(
    workers: dict[str, Running],
) -> None:
    """After all of the above: no traceback in either worker's log."""
    for worker in workers.values():
        text = worker.log()
        assert "Traceback" not in text, text[-3000:]
        assert "Error handling request" not in text, text[-3000:]
    assert SERVER_ERRORS == []


def test_workers_memory_after_fuzzing(workers: dict[str, Running], tmp_path: Path) -> None:
    for name, worker in workers.items():
        resident = rss_mib(worker)
        print(f"\n{name}: resident {resident:.0f} MiB after fuzzing (bound {MAX_RSS_MIB})")
        assert resident < MAX_RSS_MIB
