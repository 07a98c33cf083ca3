"""A real PostgreSQL server for the tests: Debian's package, started in a temp dir.

The server runs for the test session on a loopback port with its data in a
temporary directory; each test gets a database of its own. ``initdb`` and
``pg_ctl`` refuse to run as root, so as root they run as the ``postgres``
user the package creates. The package is installed when missing (as
``.ci/run`` does first); a test skips, saying why, only where that is
impossible.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from services.corral.embedded import free_port
from tests.debian import install

PACKAGE = "postgresql"


def _binaries() -> Path | None:
    """The newest installed server's bin directory (Debian keeps it off PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@functools.cache
def _bin_or_reason() -> Path | str:
    found = _binaries()
    if found is None:
        problem = install(PACKAGE)
        found = _binaries()
        if found is None:
            return problem or f"{PACKAGE} installed but initdb not found"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser: cannot start PostgreSQL as another user"
    return found


@dataclass
class PostgresServer:
    bin: Path
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://corral@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    found = _bin_or_reason()
    if isinstance(found, str):
        pytest.skip(f"needs PostgreSQL: {found}")
    directory = Path(tempfile.mkdtemp(prefix="corral-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    server = PostgresServer(found, directory, free_port())
    data = str(directory / "data")
    result = server.run("initdb", "-D", data, "-U", "corral", "--auth=trust", "-E", "UTF8")
    assert result.returncode == 0, result.stdout + result.stderr
    options = (
        f"-p {server.port} -k {directory} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    result = server.run(
        "pg_ctl", "-D", data, "-o", options, "-l", str(directory / "server.log"), "-w", "start"
    )
    assert result.returncode == 0, result.stdout + result.stderr + server.log()
    try:
        yield server
    finally:
        server.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def database(server: PostgresServer) -> AsyncIterator[str]:
    """A fresh database on the server, dropped afterwards; yields its URL."""
    name = f"corral_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server.url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield server.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
