"""Every worker's listener as an attacker on the same network meets it.

Real ingest and notify workers on the real broker, behind a web config in
Prometheus' format: bcrypt users and a bearer token with roles, TLS and mTLS
with certificates made here. Each refusal (401, 403, 413, 415, 422) is
checked with the JSON body and headers a client sees, and that nothing of a
refused request reached Kafka.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client import REGISTRY

from services.ingest.config import IngestConfig
from services.ingest.worker import IngestWorker
from services.notify.config import NotifyConfig
from services.notify.worker import NotifyWorker
from shared.config import KafkaSettings
from shared.web.commands import hash_password
from shared.web.guard import WebSecurity
from tests.alertmanager import am_alert, webhook
from tests.certs import CertificateAuthority
from tests.helpers import read_topic, running, wait_ready

pytestmark = pytest.mark.broker

PASSWORDS = {"alertmanager": "am-pass-1", "oncall": "oncall-pass-2"}
TOKEN = "prometheus-token-3f9a"
JSON = {"Content-Type": "application/json"}


def basic(user: str, password: str | None = None) -> dict[str, str]:
    pair = f"{user}:{password if password is not None else PASSWORDS[user]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def write_web_config(directory: Path, **extra: Any) -> Path:
    token_file = directory / "prometheus.token"
    token_file.write_text(TOKEN + "\n")
    config = {
        "basic_auth_users": {user: hash_password(pw, cost=4) for user, pw in PASSWORDS.items()},
        "bearer_tokens": {
            "prometheus": {"token_file": str(token_file)},
            "grafana": {"sha256": hashlib.sha256(b"grafana-token").hexdigest()},
        },
        "roles": {
            "alertmanager": ["alerts"],
            "prometheus": ["alerts", "metrics"],
            "oncall": ["admin", "metrics"],
            "grafana": ["metrics"],
        },
        **extra,
    }
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.asynccontextmanager
async def ingest(
    kafka: KafkaSettings, security: WebSecurity, **settings: Any
) -> AsyncIterator[str]:
    config = IngestConfig.model_validate({"kafka": kafka.model_dump(), "ingest": settings})
    worker = IngestWorker(config)
    async with running(worker, worker.app(security), security) as port:
        yield f"{security.scheme}://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def notify(
    kafka: KafkaSettings, security: WebSecurity, **settings: Any
) -> AsyncIterator[str]:
    suffix = kafka.topics.incidents.rsplit(".", 1)[-1]
    config = NotifyConfig.model_validate(
        {"kafka": kafka.model_dump(), "notify": {"group_id": f"notify-{suffix}", **settings}}
    )
    worker = NotifyWorker(config)
    async with running(worker, worker.app(security), security) as port:
        await wait_ready(worker)
        yield f"{security.scheme}://127.0.0.1:{port}"


async def call(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    ssl_context: ssl.SSLContext | bool = True,
) -> tuple[int, Any, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            url,
            data=data if data is not None else (None if body is None else json.dumps(body)),
            headers=headers or {},
            ssl=ssl_context,
        ) as response,
    ):
        text = await response.read()
        try:
            answer = json.loads(text)
        except ValueError:
            answer = text.decode(errors="replace")
        return response.status, answer, dict(response.headers)


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("corral_http_requests_refused_total", {"reason": reason}) or 0


def rejected(reason: str) -> float:
    labels = {"endpoint": "alertmanager", "reason": reason}
    return REGISTRY.get_sample_value("corral_alerts_rejected_total", labels) or 0


def webhook_payload(label_sets: list[dict[str, str]]) -> dict[str, Any]:
    return webhook([am_alert(labels) for labels in label_sets])


def silence(matchers: list[Any], hours: float = 1.0, **fields: Any) -> dict[str, Any]:
    return {
        "matchers": matchers,
        "endsAt": (datetime.now(UTC) + timedelta(hours=hours)).isoformat(),
        "createdBy": "alice",
        "comment": "maintenance",
        **fields,
    }


async def test_ingest_requires_credentials_and_keeps_senders_out_of_admin_apis(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    security = WebSecurity.load(write_web_config(tmp_path))
    webhook = webhook_payload([{"alertname": "DiskFull", "instance": "db-1"}])
    feedback = {"verdict": "noise"}
    async with ingest(kafka, security) as url:
        alerts_url = f"{url}/api/v1/alerts/alertmanager"
        before = refused("unauthenticated"), refused("bad_credentials"), rejected("unauthenticated")

        status, answer, headers = await call("POST", alerts_url, webhook, JSON)
        assert status == 401
        assert answer == {
            "status": "error",
            "error": "authentication required",
            "field": "Authorization",
        }
        assert headers["WWW-Authenticate"] == 'Basic realm="corral", Bearer realm="corral"'
        # Wrong password, unknown user, wrong token, garbage: all 401 alike.
        for wrong in (
            basic("alertmanager", "guess"),
            basic("mallory", "am-pass-1"),
            {"Authorization": "Bearer nope"},
            {"Authorization": "Basic !!!"},
        ):
            status, answer, _ = await call("POST", alerts_url, webhook, {**JSON, **wrong})
            assert (status, answer["error"]) == (401, "wrong credentials")
        assert refused("unauthenticated") == before[0] + 1
        assert refused("bad_credentials") == before[1] + 4
        # ingest's own counter sees them too: a sender with a wrong password loses alerts.
        assert rejected("unauthenticated") == before[2] + 1
        assert await read_topic(kafka, kafka.topics.alerts) == []

        # The sender's credentials write alerts, by basic auth or bearer token...
        status, _, _ = await call("POST", alerts_url, webhook, {**JSON, **basic("alertmanager")})
        assert status == 200
        api_v2 = [{"labels": {"alertname": "Up", "job": "node"}}]
        status, _, _ = await call("POST", f"{url}/api/v2/alerts", api_v2, {**JSON, **BEARER})
        assert status == 200
        assert len(await read_topic(kafka, kafka.topics.alerts)) == 2

        # ...but not the administrative API, which needs the admin role.
        feedback_url = f"{url}/api/v1/incidents/inc-1/feedback"
        status, answer, _ = await call(
            "POST", feedback_url, feedback, {**JSON, **basic("alertmanager")}
        )
        assert (status, answer["field"]) == (403, "Authorization")
        assert "admin role" in answer["error"]
        status, _, _ = await call("POST", feedback_url, feedback, {**JSON, **basic("oncall")})
        assert status == 202
        # An admin cannot post alerts either: roles are not ranks.
        status, _, _ = await call("POST", alerts_url, webhook, {**JSON, **basic("oncall")})
        assert status == 403

        # Health stays open; /metrics and the API description need credentials.
        assert (await call("GET", f"{url}/-/healthy"))[0] == 200
        assert (await call("GET", f"{url}/-/ready"))[0] == 200
        assert (await call("GET", f"{url}/metrics"))[0] == 401
        assert (await call("GET", f"{url}/metrics", headers=basic("alertmanager")))[0] == 403
        grafana = {"Authorization": "Bearer grafana-token"}
        assert (await call("GET", f"{url}/metrics", headers=grafana))[0] == 200
        status, document, _ = await call("GET", f"{url}/api/openapi.json", headers=BEARER)
        assert status == 200 and document["openapi"].startswith("3.")
        assert (await call("GET", f"{url}/api/openapi.json"))[0] == 401
        # An unknown path is not revealed to those without credentials.
        assert (await call("GET", f"{url}/admin"))[0] == 401
        assert (await call("GET", f"{url}/admin", headers=BEARER))[0] == 404


async def test_ingest_refuses_other_media_types_oversize_bodies_and_limits(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    security = WebSecurity()  # no web config: the bounds hold without authentication too
    limits = {"max_alerts_per_request": 3, "max_labels_per_alert": 4}
    async with ingest(kafka, security, max_body_bytes=16384, limits=limits) as url:
        alerts_url = f"{url}/api/v1/alerts/alertmanager"
        body = webhook_payload([{"alertname": "DiskFull"}])

        # A cross-site form or text/plain fetch cannot send application/json.
        for media_type in (
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            status, answer, _ = await call(
                "POST",
                alerts_url,
                data=json.dumps(body).encode(),
                headers={"Content-Type": media_type},
            )
            assert (status, answer["field"]) == (415, "Content-Type")
        status, _, _ = await call("POST", alerts_url, data=json.dumps(body).encode())
        assert status == 415  # no Content-Type at all

        big = webhook_payload([{"alertname": "A", "x": "y" * 20000}])
        status, answer, _ = await call("POST", alerts_url, big, JSON)
        assert (status, answer["field"]) == (413, "(body)")
        assert "ingest.max_body_bytes" in answer["error"]

        many = webhook_payload([{"alertname": f"A{i}"} for i in range(4)])
        status, answer, _ = await call("POST", alerts_url, many, JSON)
        assert (status, answer["field"]) == (413, "alerts")
        assert "ingest.limits.max_alerts_per_request" in answer["error"]

        wide = webhook_payload([{f"l{i}": "v" for i in range(5)}])
        status, answer, _ = await call("POST", alerts_url, wide, JSON)
        assert (status, answer["field"]) == (422, "alerts[0].labels")
        assert "ingest.limits.max_labels_per_alert" in answer["error"]

        long_value = webhook_payload([{"alertname": "A", "pod": "p" * 2049}])
        status, answer, _ = await call("POST", alerts_url, long_value, JSON)
        assert (status, answer["field"]) == (422, "alerts[0].labels.pod")
        assert "ingest.limits.max_label_value_length" in answer["error"]

        forged = webhook_payload([{"alertname": "A"}])
        forged["alerts"][0]["fingerprint"] = "../../etc/passwd"
        status, answer, _ = await call("POST", alerts_url, forged, JSON)
        assert (status, answer["field"]) == (422, "alerts[0].fingerprint")

        assert await read_topic(kafka, kafka.topics.alerts) == []


async def test_tls_and_mutual_tls_with_generated_certificates(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    ca = CertificateAuthority(tmp_path)
    server = ca.issue("ingest", server=True)
    client = ca.issue("prometheus", server=False)
    stranger = CertificateAuthority(tmp_path, "other-ca").issue("mallory", server=False)
    tls = {
        "cert_file": str(server.cert),
        "key_file": str(server.key),
        "client_ca_file": str(ca.cert_file),
        "client_auth_type": "RequireAndVerifyClientCert",
        "min_version": "TLS13",
    }
    security = WebSecurity.load(write_web_config(tmp_path, tls_server_config=tls))
    body = [{"labels": {"alertname": "Up", "job": "node"}}]

    def client_context(issued: Any = None, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(ca.cert_file))
        if issued is not None:
            context.load_cert_chain(issued.cert, issued.key)
        if maximum is not None:
            context.maximum_version = maximum
        return context

    async with ingest(kafka, security) as url:
        assert url.startswith("https://")
        alerts_url = f"{url}/api/v2/alerts"
        status, _, _ = await call(
            "POST", alerts_url, body, {**JSON, **BEARER}, ssl_context=client_context(client)
        )
        assert status == 200
        # TLS and credentials are separate layers: a good certificate needs a password too.
        status, _, _ = await call(
            "POST", alerts_url, body, JSON, ssl_context=client_context(client)
        )
        assert status == 401
        for refused_context in (client_context(), client_context(stranger)):
            with pytest.raises(aiohttp.ClientError):
                await call(
                    "POST", alerts_url, body, {**JSON, **BEARER}, ssl_context=refused_context
                )
        with pytest.raises(aiohttp.ClientError):
            await call("POST", alerts_url.replace("https:", "http:"), body, {**JSON, **BEARER})
        with pytest.raises(aiohttp.ClientError):
            old = client_context(client, maximum=ssl.TLSVersion.TLSv1_2)
            await call("POST", alerts_url, body, {**JSON, **BEARER}, ssl_context=old)
    assert len(await read_topic(kafka, kafka.topics.alerts)) == 1


async def test_silences_api_needs_the_admin_role_json_and_bounded_re2_matchers(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    security = WebSecurity.load(write_web_config(tmp_path))
    limits = {"max_matchers": 3, "max_duration": "7d", "max_silences": 2}
    admin = {**JSON, **basic("oncall")}
    async with notify(kafka, security, silences=limits) as url:
        silences = f"{url}/api/v1/silences"
        # The attack of the issue: an alert sender muting all paging.
        everything = silence(['status="firing"'])
        assert (await call("POST", silences, everything, JSON))[0] == 401
        assert (await call("POST", silences, everything, {**JSON, **basic("alertmanager")}))[
            0
        ] == 403
        assert (await call("POST", silences, everything, {**JSON, **BEARER}))[0] == 403
        assert (await call("GET", silences, headers=basic("alertmanager")))[0] == 403
        # A browser's cross-site text/plain POST, even with the admin's credentials.
        status, _, _ = await call(
            "POST", silences, data=json.dumps(everything).encode(),
            headers={"Content-Type": "text/plain", **basic("oncall")},
        )  # fmt: skip
        assert status == 415

        status, answer, _ = await call("POST", silences, silence(['a=~"(?=x)"']), admin)
        assert (status, answer["field"]) == (422, "matchers")
        assert "invalid regular expression" in answer["error"]
        too_many = silence([f'l{i}="v"' for i in range(4)])
        status, answer, _ = await call("POST", silences, too_many, admin)
        assert (status, answer["field"]) == (422, "matchers")
        status, answer, _ = await call("POST", silences, silence(['a="b"'], hours=24 * 8), admin)
        assert (status, answer["field"]) == (422, "endsAt")
        assert "notify.silences.max_duration" in answer["error"]
        status, answer, _ = await call(
            "POST", silences, silence(['a="b"'], comment="x" * 5000), admin
        )
        assert (status, answer["field"]) == (422, "comment")

        # The issue's catastrophic pattern is an ordinary RE2 matcher now.
        status, _, _ = await call("POST", silences, silence(['job=~"(a|a)*b"']), admin)
        assert status == 200
        assert (await call("POST", silences, silence(['job="x"']), admin))[0] == 200
        status, answer, _ = await call("POST", silences, silence(['job="y"']), admin)
        assert (status, answer["field"]) == (422, "(silences)")
        assert "notify.silences.max_silences" in answer["error"]
        status, listed, _ = await call("GET", silences, headers=basic("oncall"))
        assert status == 200 and len(listed) == 2


async def test_corral_silence_uses_an_http_config_file_as_amtool_does(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    from tests.integration.test_notify_delivery import corral

    ca = CertificateAuthority(tmp_path)
    server = ca.issue("notify", server=True)
    tls = {"cert_file": str(server.cert), "key_file": str(server.key)}
    security = WebSecurity.load(write_web_config(tmp_path, tls_server_config=tls))
    (tmp_path / "oncall.password").write_text(PASSWORDS["oncall"])
    http_config = tmp_path / "http.yml"
    http_config.write_text(
        yaml.safe_dump(
            {
                "basic_auth": {
                    "username": "oncall",
                    "password_file": str(tmp_path / "oncall.password"),
                },
                "tls_config": {"ca_file": str(ca.cert_file)},
            }
        )
    )
    add = ["silence", "add", "--comment", "disk swap", 'instance="db-1"']
    async with notify(kafka, security) as url:
        code, output = await corral(*add, "--url", url, "--http.config.file", str(http_config))
        assert code == 0, output
        code, output = await corral(
            "silence", "query", "--url", url, "--http.config.file", str(http_config)
        )
        assert code == 0 and "disk swap" in output
        # Without credentials the CLI says what the worker said.
        insecure = tmp_path / "no-auth.yml"
        insecure.write_text(yaml.safe_dump({"tls_config": {"ca_file": str(ca.cert_file)}}))
        code, output = await corral(*add, "--url", url, "--http.config.file", str(insecure))
        assert code == 1 and "authentication required" in output


async def test_a_renewed_certificate_is_served_without_a_restart(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    ca = CertificateAuthority(tmp_path)
    old, new = ca.issue("ingest-old", server=True), ca.issue("ingest-new", server=True)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(old.cert.read_bytes())
    key.write_bytes(old.key.read_bytes())
    security = WebSecurity.load(
        write_web_config(tmp_path, tls_server_config={"cert_file": str(cert), "key_file": str(key)})
    )
    context = ssl.create_default_context(cafile=str(ca.cert_file))

    async def served_name(port: int) -> str:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        subject = dict(item[0] for item in writer.get_extra_info("peercert")["subject"])
        writer.close()
        await writer.wait_closed()
        return str(subject["commonName"])

    async with ingest(kafka, security) as url:
        port = int(url.rsplit(":", 1)[1])
        assert await served_name(port) == "ingest-old"
        assert not security.reload_certificates()  # nothing changed
        # As cert-manager renews: the files are rewritten in place.
        cert.write_bytes(new.cert.read_bytes())
        key.write_bytes(new.key.read_bytes())
        assert security.reload_certificates()
        assert await served_name(port) == "ingest-new"


async def test_a_changed_web_config_or_token_file_applies_without_a_restart(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    """A password rotated, a user removed, a token revoked: as with Prometheus,
    the next requests see it; a broken file keeps what was loaded."""
    path = write_web_config(tmp_path)
    security = WebSecurity.load(path)
    body = webhook_payload([{"alertname": "DiskFull", "instance": "db-1"}])

    async def status(url: str, headers: dict[str, str]) -> int:
        code, _, _ = await call(
            "POST", f"{url}/api/v1/alerts/alertmanager", body, {**JSON, **headers}
        )
        return code

    async with ingest(kafka, security) as url:
        assert await status(url, basic("alertmanager")) == 200
        assert await status(url, BEARER) == 200
        assert not await security.reload_config()  # nothing changed

        rotated = "am-pass-rotated"
        config = yaml.safe_load(path.read_text())
        config["basic_auth_users"] = {"alertmanager": hash_password(rotated, cost=4)}
        del config["roles"]["oncall"]
        path.write_text(yaml.safe_dump(config))
        (tmp_path / "prometheus.token").write_text("prometheus-token-new\n")
        assert await security.reload_config()
        assert await status(url, basic("alertmanager")) == 401
        assert await status(url, basic("alertmanager", rotated)) == 200
        assert await status(url, basic("oncall")) == 401  # removed
        assert await status(url, BEARER) == 401  # the token file changed
        assert await status(url, {"Authorization": "Bearer prometheus-token-new"}) == 200

        path.write_text("basic_auth_users: [not, a, mapping\n")
        assert not await security.reload_config()
        assert await status(url, basic("alertmanager", rotated)) == 200
