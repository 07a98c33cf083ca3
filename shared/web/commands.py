"""``corral web``: make and check web configuration files.

``hash-password`` prints a bcrypt hash for ``basic_auth_users`` (as
``htpasswd -nBC 10`` does); ``init DIR`` writes a web config with one user
per role and each user's random password in a file of its own, the layout
``deploy/`` mounts as a Secret; ``check`` validates a file as the workers
will read it (``promtool check web-config``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from pathlib import Path

import bcrypt
import yaml

from shared.cli import Subcommands
from shared.web.config import Role, load_web_config

BCRYPT_COST = 10
"""Prometheus' documentation uses cost 10; each check costs tens of milliseconds
(results are cached), each guess as much."""

# The users `init` makes: who sends alerts, who scrapes, who administers.
INIT_USERS: dict[str, list[Role]] = {
    "alertmanager": [Role.ALERTS],
    "prometheus": [Role.ALERTS, Role.METRICS],
    "admin": [Role.ADMIN, Role.METRICS],
}


def hash_password(password: str, cost: int = BCRYPT_COST) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def cmd_hash_password(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass()
    if not password:
        print("error: empty password", file=sys.stderr)
        return 1
    print(hash_password(password, args.cost))
    return 0


def init(directory: Path, if_missing: bool = False) -> bool:
    """Write ``web.yml`` and ``<user>.password`` files; False if it was already there."""
    config = directory / "web.yml"
    if if_missing and config.exists():
        return False
    directory.mkdir(parents=True, exist_ok=True)
    users = {}
    for user in INIT_USERS:
        password = secrets.token_urlsafe(24)
        path = directory / f"{user}.password"
        # Readable by the other containers that mount the same Secret volume
        # (Prometheus and Alertmanager run as another user), by no one else.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w") as file:
            file.write(password + "\n")
        users[user] = hash_password(password)
    document = {
        "basic_auth_users": users,
        "roles": {user: [role.value for role in roles] for user, roles in INIT_USERS.items()},
    }
    config.write_text(
        "# Written by `corral web init`: bcrypt hashes only; the passwords are in the\n"
        "# <user>.password files beside this one.\n" + yaml.safe_dump(document, sort_keys=False)
    )
    return True


def cmd_init(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if init(directory, args.if_missing):
        names = ", ".join(f"{user}.password" for user in INIT_USERS)
        print(f"wrote {directory / 'web.yml'} and {names}")
    else:
        print(f"{directory / 'web.yml'} exists; left as it is")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    config = load_web_config(args.path)
    if config.tls_server_config is not None:
        from shared.web.tls import server_context

        server_context(config.tls_server_config)  # the certificate and key load
    print(f"{args.path}: OK")
    return 0


def register(commands: Subcommands) -> None:
    web = commands.group("web", "Web configuration: TLS, users, tokens, roles.")
    hashing = web.add("hash-password", cmd_hash_password, "Print a bcrypt hash of a password.")
    hashing.add_argument("--stdin", action="store_true", help="read the password from stdin")
    hashing.add_argument("--cost", type=int, default=BCRYPT_COST, help="bcrypt cost (default 10)")
    initial = web.add("init", cmd_init, "Write a web config and passwords for each role.")
    initial.add_argument("directory", metavar="DIR")
    initial.add_argument(
        "--if-missing", action="store_true", help="do nothing when DIR/web.yml exists"
    )
    check = web.add("check", cmd_check, "Validate a web config file.")
    check.add_argument("path", metavar="PATH")
