"""The ``corral`` subcommands that belong to ingest: the worker, and verdicts on incidents."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys

from shared.cli import Subcommands, config_path, with_config

# What a responder answers to "was this page right?", as the feedback API spells it.
VERDICTS = {
    "right": {"verdict": "right"},
    "noise": {"verdict": "noise"},
    "page-sooner": {"verdict": "page_sooner"},
    **{f"P{n}": {"verdict": "priority", "priority": f"P{n}"} for n in range(1, 6)},
}


def register(commands: Subcommands) -> None:
    commands.worker(
        "ingest",
        "services.ingest.main:main",
        "Run the ingest worker (HTTP API to Kafka).",
    )
    incident = commands.group("incident", "Act on an incident.")
    verdict = incident.add(
        "verdict",
        cmd_verdict,
        "Say whether an incident's page was right: right, noise (should not have paged), "
        "page-sooner (should have paged, or sooner), or the priority it deserved (P1-P5).",
    )
    verdict.add_argument("incident_id", metavar="ID", help="the incident's id")
    verdict.add_argument(
        "verdict", choices=list(VERDICTS), metavar="VERDICT", help="|".join(VERDICTS)
    )
    verdict.add_argument("--comment", help="why, for the people who read the verdicts")
    verdict.add_argument("--author", default=_user(), help="who judged (default: the current user)")
    verdict.add_argument("--revision", type=int, help="the revision judged (default: the latest)")
    verdict.add_argument(
        "--url",
        help="ingest's base URL (default: http:// and ingest.listen of the config)",
    )
    verdict.add_argument(
        "--http.config.file",
        dest="http_config_file",
        metavar="PATH",
        help="credentials and TLS for ingest's API (the feedback API wants the admin role), "
        "in Prometheus' http_config format (basic_auth, authorization, tls_config)",
    )
    with_config(verdict)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def cmd_verdict(args: argparse.Namespace) -> int:
    from shared.web.client import load_client_config

    client = load_client_config(args.http_config_file)
    body: dict[str, object] = {**VERDICTS[args.verdict], "source": "cli"}
    for name in ("comment", "author", "revision"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    endpoint = f"{_api_url(args)}/api/v1/incidents/{args.incident_id}/feedback"
    ssl = client.ssl_context() if endpoint.startswith("https:") else False
    status, answer = asyncio.run(_post(endpoint, body, client.headers(), ssl))
    if status == 202:
        print(f"verdict {args.verdict} on incident {args.incident_id} stored")
        return 0
    print(f"error: {endpoint}: {status}: {_reason(answer)}", file=sys.stderr)
    return 1


def _api_url(args: argparse.Namespace) -> str:
    from services.ingest.config import IngestConfig
    from shared.config import load_config

    if args.url:
        return str(args.url).rstrip("/")
    host, _, port = load_config(IngestConfig, config_path(args)).ingest.listen.rpartition(":")
    return f"http://{host if host not in ('', '0.0.0.0') else '127.0.0.1'}:{port}"


async def _post(
    endpoint: str, body: dict[str, object], headers: dict[str, str], ssl: object
) -> tuple[int, object]:
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(endpoint, json=body, headers=headers, ssl=ssl) as response,  # type: ignore[arg-type]
        ):
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text
    except (aiohttp.ClientError, TimeoutError) as exc:
        return 0, f"cannot reach ingest: {exc or type(exc).__name__}"


def _reason(answer: object) -> str:
    if isinstance(answer, dict):
        fields = answer.get("field") or ", ".join(
            str(e.get("field")) for e in answer.get("errors", []) if isinstance(e, dict)
        )
        message = answer.get("error") or answer.get("message") or json.dumps(answer)
        return f"{message} (field {fields})" if fields else str(message)
    return str(answer)
