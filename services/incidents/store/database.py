"""The two databases the incident store runs on, behind one small interface.

The store's SQL is written once, with ``?`` placeholders, in the subset
SQLite and PostgreSQL share (``ON CONFLICT`` upserts, integer times, JSON as
text); the PostgreSQL side numbers the placeholders. Neither blocks the event
loop: SQLite runs on a thread of its own, asyncpg is asynchronous.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.incidents.store.thread import OwnThread

Row = tuple[Any, ...]
Select = tuple[str, Sequence[Any]]
"""A query and its parameters."""
T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    sqlite3.OperationalError,
)
"""Errors of a database that does not answer (now): retried, or a 503."""


class Sql(Protocol):
    async def execute(self, sql: str, *params: Any) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *params: Any) -> list[Row]: ...

    async def fetch_all(self, queries: Sequence[Select]) -> list[list[Row]]:
        """Each query's rows, in order: on SQLite in one hand-off to its thread."""


class Database(Sql, Protocol):
    """Reads anywhere; writes inside ``transaction()``, which commits as a whole."""

    dialect: str
    description: str
    """What to call it in a log line (no password)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Sql]: ...

    def document(self, data: bytes) -> str | bytes:
        """A JSON document (UTF-8) as a parameter for a text column; read
        back, it is ``str`` or ``bytes``."""

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback`` with the payload of every notification on ``channel``
        (other writers' changes); a no-op where one process is the only writer."""


class SqliteDatabase:
    """One file; a writer connection, and a reader that WAL lets read while it writes."""

    dialect = "sqlite"

    def __init__(self, path: Path):
        self.path = path
        self.description = str(path)
        self._writer: _Connection | None = None
        self._reader: _Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
        # A revision's document and timeline event are tens of KB each, a row
        # spilling over a chain of pages each written on its own (to the WAL,
        # then the file): larger pages make the chain shorter. It applies to a
        # new file only; an existing store keeps the page size it was made with.
        self._writer = await _Connection.open(
            self.path,
            "page_size=16384",
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=10000",
        )
        self._reader = await _Connection.open(self.path, "busy_timeout=10000")

    async def close(self) -> None:
        for connection in (self._reader, self._writer):
            if connection is not None:
                await connection.close()
        self._reader = self._writer = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Sql]:
        assert self._writer is not None, "open() first"
        async with self._lock:
            tx = _SqliteTransaction(self._writer)
            try:
                yield tx
            except BaseException:
                await tx.rollback()
                raise
            await tx.commit()

    async def execute(self, sql: str, *params: Any) -> None:
        async with self.transaction() as tx:
            await tx.execute(sql, *params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        [rows] = await self.fetch_all([(sql, params)])
        return rows

    async def fetch_all(self, queries: Sequence[Select]) -> list[list[Row]]:
        assert self._reader is not None, "open() first"
        return await self._reader.run([], queries)

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        return None

    def document(self, data: bytes) -> str | bytes:
        # Kept as it is (a BLOB in the text column): decoding a revision of
        # tens of KB, most with a non-ASCII character, is a copy of it and
        # then some, and every reader takes bytes as well.
        return data


Statement = tuple[str, Sequence[Sequence[Any]]]
"""SQL and the rows of parameters it is executed with, one execution a row."""


class _Connection:
    """A sqlite3 connection used on one thread of its own (SQLite blocks).

    Every call is a hand-off to that thread and back to the event loop, which
    costs more CPU than most of the statements a batch runs: so a call runs
    a list of statements and then the queries asked for.
    """

    def __init__(self, path: Path):
        self._thread = OwnThread(f"sqlite {path.name}")
        self._connection: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path, *pragmas: str) -> _Connection:
        connection = cls(path)
        try:
            await connection._call(functools.partial(connection._connect, path, pragmas))
        except BaseException:
            await connection.close()
            raise
        return connection

    def _connect(self, path: Path, pragmas: tuple[str, ...]) -> None:
        # Autocommit: transactions are the explicit BEGIN ... COMMIT below.
        self._connection = sqlite3.connect(path, isolation_level=None)
        for pragma in pragmas:
            self._connection.execute(f"PRAGMA {pragma}")

    def _connected(self) -> sqlite3.Connection:
        assert self._connection is not None
        return self._connection

    async def _call(self, function: Callable[[], T]) -> T:
        return await self._thread.call(function)

    async def run(
        self, statements: list[Statement], queries: Sequence[Select] = ()
    ) -> list[list[Row]]:
        """Execute ``statements`` in order, then ``queries``: the rows of each."""
        return await self._call(functools.partial(self._run, statements, queries))

    def _run(self, statements: list[Statement], queries: Sequence[Select]) -> list[list[Row]]:
        connection = self._connected()
        for sql, rows in statements:
            if len(rows) == 1:
                connection.execute(sql, rows[0])
            else:
                connection.executemany(sql, rows)
        return [connection.execute(*query).fetchall() for query in queries]

    async def finish(self, statements: list[Statement]) -> None:
        """``statements`` then COMMIT; a transaction left open by a failure is rolled back."""
        await self._call(functools.partial(self._finish, statements))

    def _finish(self, statements: list[Statement]) -> None:
        try:
            self._run([*statements, ("COMMIT", [()])], ())
        except BaseException:
            self._rollback()
            raise

    async def rollback(self) -> None:
        await self._call(self._rollback)

    def _rollback(self) -> None:
        if self._connected().in_transaction:
            self._connected().execute("ROLLBACK")

    async def close(self) -> None:
        """After what was asked before: the connection closed, its thread ended."""
        if self._connection is not None:
            await self._call(self._connection.close)
            self._connection = None
        await self._thread.stop()


class _SqliteTransaction:
    """A transaction whose writes wait for its next read, or its commit, to
    go to SQLite's thread with it: the outcome is the same (a failing write
    fails the transaction, rolled back whole), in a few hand-offs instead of
    one a statement."""

    def __init__(self, connection: _Connection):
        self.connection = connection
        self.pending: list[Statement] = [("BEGIN IMMEDIATE", [()])]

    async def execute(self, sql: str, *params: Any) -> None:
        self.pending.append((sql, [params]))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.pending.append((sql, list(rows)))

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        [rows] = await self.fetch_all([(sql, params)])
        return rows

    async def fetch_all(self, queries: Sequence[Select]) -> list[list[Row]]:
        statements, self.pending = self.pending, []
        return await self.connection.run(statements, queries)

    async def commit(self) -> None:
        statements, self.pending = self.pending, []
        await self.connection.finish(statements)

    async def rollback(self) -> None:
        self.pending = []
        await self.connection.rollback()


@functools.lru_cache(maxsize=256)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", number, sql)


class PostgresDatabase:
    """A connection pool; another connection listens for other workers' changes."""

    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 5):
        self.url = url
        self.description = redacted_url(url)
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Sql]:
        assert self._pool is not None, "open() first"
        async with self._pool.acquire() as connection, connection.transaction():
            yield _PostgresSql(connection)

    async def execute(self, sql: str, *params: Any) -> None:
        assert self._pool is not None, "open() first"
        await self._pool.execute(numbered(sql), *params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        assert self._pool is not None, "open() first"
        await self._pool.executemany(numbered(sql), rows)

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        assert self._pool is not None, "open() first"
        return [tuple(row) for row in await self._pool.fetch(numbered(sql), *params)]

    async def fetch_all(self, queries: Sequence[Select]) -> list[list[Row]]:
        return [await self.fetch(sql, *params) for sql, params in queries]

    def document(self, data: bytes) -> str | bytes:
        return data.decode()

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        self._listener = await asyncpg.connect(self.url)
        await self._listener.add_listener(
            channel, lambda _connection, _pid, _channel, payload: callback(payload)
        )


class _PostgresSql:
    def __init__(self, connection: asyncpg.Connection):
        self.connection = connection

    async def execute(self, sql: str, *params: Any) -> None:
        await self.connection.execute(numbered(sql), *params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.connection.executemany(numbered(sql), rows)

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        return [tuple(row) for row in await self.connection.fetch(numbered(sql), *params)]

    async def fetch_all(self, queries: Sequence[Select]) -> list[list[Row]]:
        return [await self.fetch(sql, *params) for sql, params in queries]


def redacted_url(url: str) -> str:
    """A database URL fit for a log line: the password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
