"""The ``corral`` command line: every service's subcommands, plus ``up`` and ``check-config``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from services.corral import commands as history_commands
from services.corral import quarantine as quarantine_commands
from services.incidents import commands as incidents_commands
from services.ingest import commands as ingest_commands
from services.notify import commands as notify_commands
from services.triage import commands as triage_commands
from shared.cli import (
    Subcommands,
    apply_web_config_flag,
    config_path,
    with_config,
    with_web_config,
)
from shared.config import ConfigError
from shared.logging import configure_logging
from shared.web import commands as web_commands


def cmd_up(args: argparse.Namespace) -> int:
    from services.corral import config, up

    path = config_path(args)
    apply_web_config_flag(args)
    settings = config.load(path)
    configure_logging(settings.log.level, "corral")
    return up.up(settings, path)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validates without printing any value of the config, so never a secret."""
    from services.corral import config
    from shared.web.config import load_web_config

    settings = config.load(args.path, env={})
    web = settings.web.config_file
    if web is not None and Path(web).exists():
        load_web_config(web)
        print(f"{args.path}: OK (web config {web}: OK)")
    elif web is not None:
        print(f"{args.path}: OK (web config {web} is not on this machine: not checked)")
    else:
        print(f"{args.path}: OK")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Writes the converted config, lists what did not map on standard error,
    then checks the result as ``check-config`` would."""
    from services.corral import config
    from services.corral.from_alertmanager import convert, render
    from shared.config import parse_yaml, read_yaml, validate

    imported = convert(read_yaml(args.path))
    text = render(imported, Path(args.path).name)
    out = args.out or "(standard output)"
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    for note in imported.notes:
        print(f"note: {note.line()}", file=sys.stderr)
    try:
        validate(config.CorralConfig, parse_yaml(text, out))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{out} does not pass check-config yet: fix the lines above", file=sys.stderr)
        return 1
    count = len(imported.notes)
    mapped = f"{count} note{'s' * (count != 1)} above" if count else "everything mapped"
    print(f"{out}: written, passes check-config ({mapped})", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corral", description="Alert ingestion and auto-triage pipeline."
    )
    commands = Subcommands(parser)
    up = commands.add(
        "up", cmd_up, "Run the whole pipeline here (embedded broker unless Kafka is configured)."
    )
    with_web_config(with_config(up))
    check = commands.add("check-config", cmd_check_config, "Validate a config before deploying it.")
    check.add_argument("path", metavar="PATH")
    importer = commands.add(
        "import",
        cmd_import,
        "Convert an Alertmanager configuration (alertmanager.yml) into Corral's.",
    )
    importer.add_argument("path", metavar="ALERTMANAGER_YML")
    importer.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    for service in (
        ingest_commands,
        triage_commands,
        notify_commands,
        incidents_commands,
        web_commands,
        history_commands,
        quarantine_commands,
    ):
        service.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
