"""The ``corral`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from shared.config import CONFIG_ENV, ConfigError
from shared.logging import configure_logging


def _config_path(args: argparse.Namespace) -> str | None:
    return args.config or os.environ.get(CONFIG_ENV) or None


def cmd_up(args: argparse.Namespace) -> int:
    from services.corral import config, up

    path = _config_path(args)
    settings = config.load(path)
    configure_logging(settings.log.level, "corral")
    return up.up(settings, path)


def _worker(module: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        importlib.import_module(f"services.{module}.main").main(_config_path(args))
        return 0

    return run


def cmd_check_config(args: argparse.Namespace) -> int:
    from services.corral import config

    config.load(args.path, env={})
    print(f"{args.path}: OK")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corral", description="Alert ingestion and auto-triage pipeline."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    for name, text in (
        ("up", "Run the whole pipeline here (embedded broker unless Kafka is configured)."),
        ("ingest", "Run the ingest worker (HTTP API to Kafka)."),
        ("triage", "Run a triage worker (alerts to incidents)."),
        ("notify", "Run a notify worker (incidents to receivers)."),
    ):
        sub = add(name, cmd_up if name == "up" else _worker(name), text)
        sub.add_argument("--config", metavar="PATH", help=f"config file (default ${CONFIG_ENV})")

    check = add("check-config", cmd_check_config, "Validate a config file before deploying it.")
    check.add_argument("path", metavar="PATH")
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
