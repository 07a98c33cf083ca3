"""The ``corral`` subcommands that belong to the incidents service.

``corral incidents`` runs a worker; ``corral incident list|show|ack|...``
and ``corral review`` talk to a worker's API (``--url``, else
``incidents.listen`` of the config), as a responder at a terminal would.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from services.incidents.config import IncidentsConfig
from shared.cli import Subcommands, config_path, with_config
from shared.config import load_config
from shared.web.client import add_api_arguments, call_api, local_url


def register(commands: Subcommands) -> None:
    commands.worker(
        "incidents",
        "services.incidents.main:main",
        "Run an incidents worker (incident store, API, PagerDuty and Slack inbound).",
    )
    incident = commands.group("incident", "List, show and act on incidents.")
    listing = _with_api(incident.add("list", cmd_list, "List incidents, newest first."))
    listing.add_argument("--status", help="firing, acknowledged, resolved or open (comma list)")
    listing.add_argument("--priority", help="e.g. P1,P2")
    listing.add_argument("--team")
    listing.add_argument("--since", help="changed since: a duration (24h) or a time")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    show = _with_api(incident.add("show", cmd_show, "Show an incident and its timeline."))
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="the API's JSON as it is")
    for name, help in (
        ("ack", "Acknowledge: you are on it; escalation stops."),
        ("unack", "Take back an acknowledgement; escalation resumes."),
        ("resolve", "Resolve: it is over."),
        ("reopen", "Reopen a resolved incident."),
        ("escalate", "Page the next escalation step now."),
    ):
        _action(incident, name, help).add_argument("--comment", help="why, for the timeline")
    assign = _action(incident, "assign", "Give a person a role on the incident.")
    assign.add_argument("role", metavar="ROLE", help="incident_commander, communications_lead, ...")
    assign.add_argument("person", metavar="PERSON")
    note = _action(incident, "note", "Add a note to the incident's timeline.")
    note.add_argument("text", nargs="+", metavar="TEXT")
    snooze = _action(incident, "snooze", "Acknowledge for a while; then it fires again.")
    snooze.add_argument("--duration", required=True, help="e.g. 30m, 2h")
    snooze.add_argument("--comment", help="why, for the timeline")

    review = _with_api(commands.add("review", cmd_review, "Print an incident's review document."))
    review.add_argument("id", metavar="ID")
    review.add_argument("--format", choices=("markdown", "html"), default="markdown")
    review.add_argument("--output", "-o", metavar="FILE", help="write it here instead")


def _with_api(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    return add_api_arguments(with_config(parser), "incidents")


def _action(group: Subcommands, name: str, help: str) -> argparse.ArgumentParser:
    parser = _with_api(group.add(name, cmd_act, help))
    parser.add_argument("id", metavar="ID")
    parser.add_argument("--actor", help="who acts (default: your user name)")
    return parser


def request(
    args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, bytes]:
    if args.url:
        url = str(args.url).rstrip("/")
    else:
        url = local_url(load_config(IncidentsConfig, config_path(args)).incidents.listen)
    return call_api(f"{url}{path}", method, args.http_config_file, body)


def _json(status: int, data: bytes) -> Any:
    try:
        answer = json.loads(data)
    except ValueError:
        raise SystemExit(f"error: HTTP {status}: {data[:200]!r}") from None
    if status >= 400:
        raise SystemExit(f"error: {answer.get('error', answer)}")
    return answer


def login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in this container
        return "corral"


def cmd_list(args: argparse.Namespace) -> int:
    params = {
        k: v
        for k, v in {
            "status": args.status,
            "priority": args.priority,
            "team": args.team,
            "since": args.since,
            "limit": str(args.limit),
        }.items()
        if v
    }
    answer = _json(*request(args, "GET", f"/api/v1/incidents?{urlencode(params)}"))
    print(f"{'ID':18}  {'STATE':12}  {'PRI':3}  {'TEAM':10}  {'OPENED':20}  {'ACK BY':12}  TITLE")
    for item in answer["incidents"]:
        print(
            f"{item['id']:18}  {item['state']:12}  {item['priority']:3}  {item['team'][:10]:10}  "
            f"{item['opened_at'][:19]:20}  {(item['acknowledged_by'] or '-')[:12]:12}  "
            f"{item['title']}"
        )
    if answer["next_cursor"]:
        print(f"(more: raise --limit, or GET ...?cursor={answer['next_cursor']})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    answer = _json(*request(args, "GET", f"/api/v1/incidents/{args.id}"))
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    print(f"{answer['id']}  [{answer['priority']} {answer['severity']}]  {answer['title']}")
    state = answer["state"]
    if answer["acknowledged_by"] and state == "acknowledged":
        state += f" by {answer['acknowledged_by']} at {answer['acknowledged_at']}"
    if answer["resolved_by"] and state == "resolved":
        state += f" by {answer['resolved_by']}"
    print(f"  state:    {state}")
    print(f"  opened:   {answer['opened_at']}   team: {answer['team'] or '-'}")
    print(f"  alerts:   {answer['alerts']['firing']} firing of {answer['alerts']['total']}")
    for role, person in answer["roles"].items():
        print(f"  {role.replace('_', ' ')}: {person}")
    print("timeline:")
    for entry in answer["timeline"]:
        print(f"  {entry['at']}  {entry['text']}")
    return 0


def cmd_act(args: argparse.Namespace) -> int:
    # With authentication on, the worker records the authenticated user instead.
    body: dict[str, Any] = {"actor": args.actor or login(), "source": "cli"}
    path = {"note": "notes"}.get(args.command, args.command)
    if getattr(args, "comment", None):
        body["comment"] = args.comment
    if path == "assign":
        body.update(role=args.role, person=args.person)
    elif path == "notes":
        body["text"] = " ".join(args.text)
    elif path == "snooze":
        body["duration"] = args.duration
    answer = _json(*request(args, "POST", f"/api/v1/incidents/{args.id}/{path}", body))
    if answer["status"] == "accepted":
        print(f"{args.id}: {answer['action']['kind']} taken (the store shows it shortly)")
    else:
        incident = answer["incident"]
        print(f"{args.id}: {answer['action']['kind']} done; now {incident['state']}")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    status, data = request(args, "GET", f"/api/v1/incidents/{args.id}/review?format={args.format}")
    if status != 200:
        _json(status, data)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"review of {args.id} written to {args.output}")
    else:
        sys.stdout.write(data.decode())
    return 0
