"""Alertmanager's API v2 on a notify worker, driven by the real ``amtool`` from
Debian's prometheus-alertmanager package and by requests shaped like those of
Grafana's Alertmanager data source, behind the web security (basic auth,
``metrics`` to read, ``admin`` to write), over the real broker."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from services.notify.worker import NotifyWorker
from shared.config import KafkaSettings
from shared.messages import IncidentAlert
from shared.web.commands import hash_password
from shared.web.guard import WebSecurity
from tests.helpers import RecordingServer, running, wait_ready
from tests.integration.notify_fakes import incident, notify_config, publish

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(shutil.which("amtool") is None, reason="Debian's amtool is not installed"),
]

USERS = {"oncall": "oncall-pass-1", "grafana": "grafana-pass-2"}
ROUTES = {
    "route": {
        "receiver": "team",
        "routes": [
            {"matchers": ['priority=~"P1|P2"'], "receiver": "pager", "continue": True},
            {
                "matchers": ['team="storage"'],
                "receiver": "storage",
                "mute_time_intervals": ["never"],
            },
        ],
    },
    "receivers": [
        {"name": "team", "log_configs": [{}]},
        {"name": "pager", "log_configs": [{}]},
        {"name": "storage", "log_configs": [{}]},
    ],
    "time_intervals": [{"name": "never", "time_intervals": [{"years": ["2000"]}]}],
}


def basic(user: str) -> dict[str, str]:
    pair = f"{user}:{USERS[user]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def security(directory: Path) -> WebSecurity:
    path = directory / "web.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "basic_auth_users": {u: hash_password(p, cost=4) for u, p in USERS.items()},
                "roles": {"oncall": ["admin", "metrics"], "grafana": ["metrics"]},
            }
        )
    )
    return WebSecurity.load(path)


class Amtool:
    """The real amtool, with the admin's credentials in its http_config file."""

    def __init__(self, url: str, home: Path):
        self.url = url
        self.home = home
        config = home / "http.yml"
        config.write_text(
            yaml.safe_dump({"basic_auth": {"username": "oncall", "password": USERS["oncall"]}})
        )
        self.http_config = config

    async def __call__(self, *args: str, check: bool = True) -> str:
        process = await asyncio.create_subprocess_exec(
            "amtool",
            f"--alertmanager.url={self.url}",
            f"--http.config.file={self.http_config}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"HOME": str(self.home), "PATH": "/usr/bin:/bin"},
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        if check:
            assert process.returncode == 0, err.decode()
        return out.decode() + (err.decode() if not check else "")


def alerts() -> list[IncidentAlert]:
    base = {"alertname": "DiskFull", "team": "storage", "severity": "warning"}
    return [
        IncidentAlert(
            fingerprint="0000000000000001",
            status="firing",
            labels={**base, "instance": "db-1"},
            annotations={"summary": "/var on db-1 is 97% full"},
            starts_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
            generator_url="http://prometheus:9090/graph?g0.expr=disk",
        ),
        IncidentAlert(
            fingerprint="0000000000000002",
            status="firing",
            labels={**base, "instance": "db-2"},
            annotations={"summary": "/var on db-2 is 96% full"},
        ),
        IncidentAlert(
            fingerprint="0000000000000003",
            status="resolved",
            labels={**base, "instance": "db-3"},
        ),
    ]


async def wait_for_alerts(session: aiohttp.ClientSession, url: str, count: int) -> Any:
    for _ in range(200):
        async with session.get(f"{url}/api/v2/alerts", headers=basic("grafana")) as response:
            if response.status == 200:
                found = await response.json()
                if len(found) >= count:
                    return found
        await asyncio.sleep(0.1)
    raise AssertionError("the incidents never showed")


async def test_amtool_and_grafana_against_notify(kafka: KafkaSettings, tmp_path: Path) -> None:
    web = security(tmp_path)
    worker = NotifyWorker(notify_config(kafka, ROUTES))
    storage = incident(alerts=alerts(), root_cause="0000000000000001")
    node = {"alertname": "NodeDown", "team": "infra", "node": "worker-7"}
    paging = incident(
        id="inc-2",
        priority="P1",
        labels=node,
        alerts=[
            IncidentAlert(
                fingerprint="00000000000000aa",
                status="firing",
                labels=node,
                annotations={"summary": "worker-7 is not ready"},
            )
        ],
    )
    await publish(kafka, storage, paging, incident(id="inc-3", status="resolved"))
    async with (
        running(worker, worker.app(web), web) as port,
        aiohttp.ClientSession() as session,
    ):
        await wait_ready(worker)
        url = f"http://127.0.0.1:{port}"
        amtool = Amtool(url, tmp_path)
        found = await wait_for_alerts(session, url, 3)

        # What Corral sees, in Alertmanager's shape, sorted by fingerprint.
        first = next(a for a in found if a["fingerprint"] == "0000000000000001")
        assert first["receivers"] == [{"name": "storage"}]
        assert first["status"] == {
            "state": "active",
            "silencedBy": [],
            "inhibitedBy": [],
            "mutedBy": [],
        }
        second = next(a for a in found if a["fingerprint"] == "0000000000000002")
        # A symptom of the incident's root cause: inhibited by it, as Corral sees it.
        assert second["status"]["inhibitedBy"] == ["0000000000000001"]
        assert second["status"]["state"] == "suppressed"
        assert {a["labels"]["alertname"] for a in found} == {"DiskFull", "NodeDown"}

        # amtool alert query: active, not silenced or inhibited alerts.
        listed = await amtool("alert", "query")
        assert "DiskFull" in listed and "NodeDown" in listed
        assert "/var on db-1 is 97% full" in listed
        assert "/var on db-2" not in listed  # inhibited: shown with --inhibited
        assert "/var on db-2" in await amtool("alert", "query", "--inhibited")
        assert "NodeDown" not in await amtool("alert", "query", "team=storage")

        # amtool silence add | query | expire, through Corral's silences.
        silence_id = (
            await amtool("silence", "add", "instance=db-1", "--comment=resizing /var",
                         "--author=alice", "--duration=2h")
        ).strip()  # fmt: skip
        assert len(silence_id) == 36
        query = await amtool("silence", "query", "-o", "json")
        [silence] = json.loads(query)
        assert (silence["id"], silence["createdBy"], silence["status"]["state"]) == (
            silence_id,
            "alice",
            "active",
        )
        assert silence["matchers"] == [
            {"name": "instance", "value": "db-1", "isRegex": False, "isEqual": True}
        ]
        assert silence_id in await amtool("silence", "query", "instance=db-1")
        assert silence_id not in await amtool("silence", "query", "instance=db-9")
        assert "/var on db-1" not in await amtool("alert", "query")
        assert "/var on db-1" in await amtool("alert", "query", "--silenced")
        await amtool("silence", "expire", silence_id)
        assert await amtool("silence", "query", "-q") == ""
        assert silence_id in await amtool("silence", "query", "--expired", "-q")

        # amtool config routes test: Alertmanager's routing of Corral's tree.
        routed = await amtool("config", "routes", "test", "priority=P1", "team=storage")
        assert routed.strip() == "pager,storage"
        assert (await amtool("config", "routes", "test", "team=web")).strip() == "team"
        tree = await amtool("config", "routes", "show")
        assert "storage" in tree and "pager" in tree

        # Grafana's data source: status (its health check), groups, receivers, silences.
        grafana = basic("grafana")
        async with session.get(f"{url}/api/v2/status", headers=grafana) as response:
            status = await response.json()
        assert status["cluster"]["status"] == "disabled"
        assert "receiver: team" in status["config"]["original"]
        async with session.get(
            f"{url}/api/v2/alerts/groups",
            params=[("silenced", "false"), ("inhibited", "false"), ("filter", 'team="storage"')],
            headers=grafana,
        ) as response:
            groups = await response.json()
        assert [(g["receiver"]["name"], g["labels"]["incident_id"]) for g in groups] == [
            ("storage", "inc-1")
        ]
        assert [a["fingerprint"] for a in groups[0]["alerts"]] == ["0000000000000001"]
        async with session.get(f"{url}/api/v2/receivers", headers=grafana) as response:
            assert await response.json() == [
                {"name": "team"},
                {"name": "pager"},
                {"name": "storage"},
            ]
        body = {
            "matchers": [
                {"name": "incident_id", "value": "inc-2", "isEqual": True, "isRegex": False}
            ],
            "startsAt": datetime.now(UTC).isoformat(),
            "endsAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "createdBy": "grafana-user",
            "comment": "on it",
        }
        # Reading is the metrics role; creating a silence is the admin's.
        async with session.post(f"{url}/api/v2/silences", json=body, headers=grafana) as response:
            assert response.status == 403
        async with session.post(
            f"{url}/api/v2/silences", json=body, headers=basic("oncall")
        ) as response:
            assert response.status == 200
            created = (await response.json())["silenceID"]
        async with session.get(
            f"{url}/api/v2/alerts", params={"silenced": "false"}, headers=grafana
        ) as response:
            shown = await response.json()
        assert "NodeDown" not in {a["labels"]["alertname"] for a in shown}
        async with session.get(f"{url}/api/v2/silence/{created}", headers=grafana) as response:
            assert (await response.json())["comment"] == "on it"
        # Alertmanager's errors: 400 with a JSON string.
        async with session.post(
            f"{url}/api/v2/silences", json={**body, "endsAt": "2000-01-01T00:00:00Z"},
            headers=basic("oncall"),
        ) as response:  # fmt: skip
            assert response.status == 400
            assert (await response.json()).startswith("endsAt: must be after startsAt")
        async with session.get(
            f"{url}/api/v2/alerts", params={"filter": "no operator"}, headers=grafana
        ) as response:
            assert response.status == 400
        async with session.delete(f"{url}/api/v2/silence/{created}", headers=grafana) as response:
            assert response.status == 403
        async with session.delete(
            f"{url}/api/v2/silence/{created}", headers=basic("oncall")
        ) as response:
            assert response.status == 200
        async with session.get(f"{url}/api/v2/silence/unknown", headers=grafana) as response:
            assert response.status == 404


async def test_a_muted_route_sends_nothing_and_the_api_says_why(kafka: KafkaSettings) -> None:
    hooks = {name: await RecordingServer().start() for name in ("muted", "open")}
    config = {
        "route": {
            "receiver": "open",
            "routes": [
                {
                    "matchers": ['team="storage"'],
                    "receiver": "muted",
                    "mute_time_intervals": ["always"],
                }
            ],
        },
        "receivers": [
            {"name": name, "webhook_configs": [{"url": hook.url()}]} for name, hook in hooks.items()
        ],
        "time_intervals": [{"name": "always", "time_intervals": [{}]}],
    }
    worker = NotifyWorker(notify_config(kafka, config))
    web = {"alertname": "HighLatency", "team": "web"}
    web_alert = IncidentAlert(fingerprint="00000000000000bb", status="firing", labels=web)
    await publish(kafka, incident(), incident(id="inc-2", labels=web, alerts=[web_alert]))
    async with running(worker, worker.app()) as port, aiohttp.ClientSession() as session:
        assert (await hooks["open"].next()).json()["id"] == "inc-2"
        assert await hooks["muted"].nothing_within(1.5)
        shown = await wait_for_alerts(session, f"http://127.0.0.1:{port}", 2)
    muted = {a["labels"]["team"]: a["status"]["mutedBy"] for a in shown}
    assert muted == {"storage": ["always"], "web": []}
    for hook in hooks.values():
        await hook.stop()
