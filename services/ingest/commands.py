"""The ``corral`` subcommands that belong to ingest: the worker, and verdicts on incidents."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from shared.cli import Subcommands, config_path, with_config
from shared.web.client import add_api_arguments, call_api, local_url

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
    incident = commands.group("incident", "List, show and act on incidents.")
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
    add_api_arguments(with_config(verdict), "ingest")


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def cmd_verdict(args: argparse.Namespace) -> int:
    from services.ingest.config import IngestConfig
    from shared.config import load_config

    body: dict[str, object] = {**VERDICTS[args.verdict], "source": "cli"}
    for name in ("comment", "author", "revision"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.url:
        url = str(args.url).rstrip("/")
    else:
        url = local_url(load_config(IngestConfig, config_path(args)).ingest.listen)
    endpoint = f"{url}/api/v1/incidents/{args.incident_id}/feedback"
    status, answer = call_api(endpoint, "POST", args.http_config_file, body)
    if status == 202:
        print(f"verdict {args.verdict} on incident {args.incident_id} stored")
        return 0
    print(f"error: {endpoint}: HTTP {status}: {_reason(answer)}", file=sys.stderr)
    return 1


def _reason(answer: bytes) -> str:
    """The error body's message and the field it names, as ingest writes them."""
    try:
        body = json.loads(answer)
    except ValueError:
        return answer[:200].decode(errors="replace")
    if not isinstance(body, dict):
        return str(body)
    fields = body.get("field") or ", ".join(
        str(e.get("field")) for e in body.get("errors", []) if isinstance(e, dict)
    )
    message = body.get("error") or json.dumps(body)
    return f"{message} (field {fields})" if fields else str(message)
