"""Helpers for the ``corral`` command: each service registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable

from shared.config import CONFIG_ENV

Handler = Callable[[argparse.Namespace], int]


class Subcommands:
    """Wraps argparse subparsers so a service adds a command in one call."""

    def __init__(self, parser: argparse.ArgumentParser):
        self._sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
            getattr(importlib.import_module(module), function)(config_path(args))
            return 0

        with_config(self.add(name, handler, help))

    def group(self, name: str, help: str) -> Subcommands:
        """A command with subcommands of its own, like ``corral dlq replay``."""
        parser = self._sub.add_parser(name, help=help, description=help)
        return Subcommands(parser)


def with_config(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--config", metavar="PATH", help=f"config file (default ${CONFIG_ENV})")
    return parser


def config_path(args: argparse.Namespace) -> str | None:
    return getattr(args, "config", None) or os.environ.get(CONFIG_ENV) or None
