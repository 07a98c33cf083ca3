"""The ``corral`` subcommands that belong to notify.

``corral notify`` runs a worker; ``corral routes test`` shows where an
incident would go (as ``amtool config routes test`` does); ``corral silence``
adds, lists and expires silences through a notify worker's API; ``corral dlq
replay`` sends dead-lettered notifications again.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Any

from services.notify import dlq
from services.notify.api import MatcherObject
from services.notify.config import NotifyConfig
from services.notify.escalation import policies
from services.notify.routing import RouteNode, destinations
from shared.cli import Subcommands, config_path, with_config
from shared.config import load_config
from shared.durations import format_duration, parse_duration
from shared.web.client import add_api_arguments, call_api, local_url


def register(commands: Subcommands) -> None:
    commands.worker(
        "notify", "services.notify.main:main", "Run a notify worker (incidents to receivers)."
    )

    routes = commands.group("routes", "Inspect the notify routing tree.")
    test = with_config(
        routes.add(
            "test", cmd_routes_test, "Print the receivers an incident with these labels reaches."
        )
    )
    test.add_argument("labels", nargs="+", metavar="LABEL=VALUE")
    test.add_argument(
        "--verify-receivers",
        metavar="A,B",
        help="exit 1 unless exactly these receivers are reached (for CI)",
    )

    silence = commands.group("silence", "Add, list and expire silences.")
    add = _with_api(silence.add("add", cmd_silence_add, "Silence incidents matching MATCHERs."))
    add.add_argument("matchers", nargs="+", metavar="MATCHER", help='e.g. alertname="DiskFull"')
    add.add_argument("--comment", required=True, help="why (shown to whoever looks later)")
    add.add_argument("--author", help="default: your user name")
    add.add_argument("--duration", default="1h", help="how long, from --start (default 1h)")
    add.add_argument("--start", help="ISO 8601 time it begins (default now)")
    add.add_argument("--end", help="ISO 8601 time it ends (instead of --duration)")
    query = _with_api(silence.add("query", cmd_silence_query, "List silences."))
    query.add_argument("--expired", action="store_true", help="list expired silences too")
    expire = _with_api(silence.add("expire", cmd_silence_expire, "Expire silences now."))
    expire.add_argument("ids", nargs="+", metavar="ID")

    dead = commands.group("dlq", "Dead-lettered notifications.")
    replay = with_config(
        dead.add("replay", cmd_dlq_replay, "Send dead-lettered notifications again.")
    )
    replay.add_argument("--receiver", help="only this receiver's dead letters")
    replay.add_argument("--incident", help="only this incident's dead letters")
    replay.add_argument("--since", help="only dead letters of the last DURATION, e.g. 24h")
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed")


def _config(args: argparse.Namespace) -> NotifyConfig:
    return load_config(NotifyConfig, config_path(args))


def cmd_routes_test(args: argparse.Namespace) -> int:
    config = _config(args)
    labels: dict[str, str] = {}
    for item in args.labels:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"error: {item!r} is not LABEL=VALUE", file=sys.stderr)
            return 2
        labels[name] = value.strip('"')
    settings = config.notify
    root = RouteNode.build(settings.route, policies=policies(settings.escalation_policies))
    nodes = destinations(root, labels)
    receivers = list(nodes)
    print(",".join(receivers))
    for receiver, node in nodes.items():
        matchers = ", ".join(str(m) for m in node.matchers) or "(matches everything)"
        windows = "".join(
            f" {field}={','.join(names)}"
            for field, names in (
                ("mute_time_intervals", node.mute_time_intervals),
                ("active_time_intervals", node.active_time_intervals),
            )
            if names
        )
        escalation = ""
        if node.escalation is not None:
            steps = [
                f"{i + 1} after {format_duration(step.after)}"
                for i, step in enumerate(node.escalation.steps)
                if receiver in step.receivers
            ]
            escalation = f" escalation={node.escalation.name} step {', '.join(steps)}"
        print(
            f"  {receiver}: {node.path} {{{matchers}}} group_wait="
            f"{format_duration(node.group_wait)} group_interval="
            f"{format_duration(node.group_interval)} repeat_interval="
            f"{format_duration(node.repeat_interval)}{windows}{escalation}"
        )
    if args.verify_receivers is not None:
        expected = [r.strip() for r in args.verify_receivers.split(",") if r.strip()]
        if expected != receivers:
            print(f"error: expected {','.join(expected)}", file=sys.stderr)
            return 1
    return 0


def _with_api(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    return add_api_arguments(with_config(parser), "notify")


def _call(
    args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    url = args.url.rstrip("/") if args.url else local_url(_config(args).notify.listen)
    status, data = call_api(f"{url}{path}", method, args.http_config_file, body)
    return status, json.loads(data) if data else None


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"error: {text!r} is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in this container
        return "corral"


def cmd_silence_add(args: argparse.Namespace) -> int:
    start = _time(args.start) if args.start else datetime.now(UTC)
    try:
        end = _time(args.end) if args.end else start + parse_duration(args.duration)
    except ValueError as exc:
        raise SystemExit(f"error: --duration: {exc}") from None
    status, answer = _call(
        args,
        "POST",
        "/api/v1/silences",
        {
            "matchers": args.matchers,
            "startsAt": start.isoformat(),
            "endsAt": end.isoformat(),
            "createdBy": args.author or _user(),
            "comment": args.comment,
        },
    )
    if status != 200:
        print(f"error: {answer.get('error', answer)}", file=sys.stderr)
        return 1
    print(answer["silenceID"])
    return 0


def cmd_silence_query(args: argparse.Namespace) -> int:
    status, answer = _call(args, "GET", "/api/v1/silences")
    if status != 200:
        print(f"error: {answer.get('error', answer)}", file=sys.stderr)
        return 1
    print(f"{'ID':36}  {'STATE':8}  {'ENDS AT':25}  {'CREATED BY':12}  MATCHERS / COMMENT")
    for silence in answer:
        state = silence["status"]["state"]
        if state == "expired" and not args.expired:
            continue
        matchers = ", ".join(
            str(MatcherObject.model_validate(m).matcher()) for m in silence["matchers"]
        )
        print(
            f"{silence['id']:36}  {state:8}  {silence['endsAt'][:25]:25}  "
            f"{silence['createdBy'][:12]:12}  {matchers} / {silence['comment']}"
        )
    return 0


def cmd_silence_expire(args: argparse.Namespace) -> int:
    code = 0
    for silence_id in args.ids:
        status, answer = _call(args, "DELETE", f"/api/v1/silences/{silence_id}")
        if status != 200:
            print(f"error: {silence_id}: {answer.get('error', answer)}", file=sys.stderr)
            code = 1
        else:
            print(f"expired {silence_id}")
    return code


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    config = _config(args)
    try:
        since = parse_duration(args.since) if args.since else None
    except ValueError as exc:
        raise SystemExit(f"error: --since: {exc}") from None
    decisions = asyncio.run(
        dlq.replay(config, args.receiver, args.incident, since, dry_run=args.dry_run)
    )
    for decision in decisions:
        print(decision.line())
    replayed = sum(d.replay for d in decisions)
    verb = "would replay" if args.dry_run else "replayed"
    print(
        f"{verb} {replayed}, skipped {len(decisions) - replayed} of {len(decisions)} dead letters"
    )
    return 0
