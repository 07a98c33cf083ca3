"""Helpers for the ``corral`` command: each service registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable
from datetime import timedelta

import structlog

from shared.config import CONFIG_ENV
from shared.durations import parse_duration
from shared.logging import configure_logging

Handler = Callable[[argparse.Namespace], int]
WEB_CONFIG_ENV = "CORRAL_WEB__CONFIG_FILE"


class Subcommands:
    """Wraps argparse subparsers so a service adds a command in one call."""

    def __init__(self, parser: argparse.ArgumentParser):
        self._sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        self._groups: dict[str, Subcommands] = {}

    def add(self, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, help=help, description=help)
        parser.set_defaults(handler=handler)
        return parser

    def worker(self, name: str, target: str, help: str) -> None:
        """A command that runs one worker with the config file it is given.

        ``target`` ("package.module:function") is imported only when the command
        runs, so a worker process loads, and exports the metrics of, its own
        service alone.
        """

        def handler(args: argparse.Namespace) -> int:
            module, _, function = target.partition(":")
            apply_web_config_flag(args)
            getattr(importlib.import_module(module), function)(config_path(args))
            return 0

        with_web_config(with_config(self.add(name, handler, help)))

    def group(self, name: str, help: str) -> Subcommands:
        """A command with subcommands of its own, like ``corral dlq replay``.

        Services may add to one group: ``corral incident verdict`` belongs to
        ingest (it posts to ingest's feedback API), ``corral incident ack`` to
        the incidents service. The first to name the group gives its help.
        """
        if name not in self._groups:
            parser = self._sub.add_parser(name, help=help, description=help)
            self._groups[name] = Subcommands(parser)
        return self._groups[name]


def with_config(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--config", metavar="PATH", help=f"config file (default ${CONFIG_ENV})")
    return parser


def with_web_config(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="PATH",
        help="TLS and authentication, in Prometheus' web config format "
        f"(overrides web.config_file and ${WEB_CONFIG_ENV})",
    )
    return parser


def apply_web_config_flag(args: argparse.Namespace) -> None:
    """The flag travels as the environment variable that sets ``web.config_file``,
    so it overrides file and environment alike and reaches ``corral up``'s workers."""
    path = getattr(args, "web_config_file", None)
    if path:
        os.environ[WEB_CONFIG_ENV] = path


def config_path(args: argparse.Namespace) -> str | None:
    return getattr(args, "config", None) or os.environ.get(CONFIG_ENV) or None


def duration(text: str) -> timedelta:
    """An argparse ``type`` for ``--since 24h``: a bad value is a usage error."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def log_to_stderr() -> None:
    """For commands whose output is read: results go to standard output (``--json``
    is read by programs), log lines of warnings and worse to standard error."""
    configure_logging("warning")
    # Not cached: the command may run inside another program (tests) whose
    # standard error is not this one's for long.
    structlog.configure(cache_logger_on_first_use=False)
