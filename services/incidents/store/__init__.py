"""The incident store: SQLite under ``incidents.data_dir`` by default, PostgreSQL
when ``incidents.store`` is a ``postgresql://`` URL."""

from __future__ import annotations

from pathlib import Path

from services.incidents.store.database import Database, PostgresDatabase, SqliteDatabase
from services.incidents.store.incidents import IncidentStore
from services.incidents.views import Describer

SQLITE_FILE = "incidents.sqlite3"


def database_for(store: str, data_dir: str) -> Database:
    if store.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(store)
    return SqliteDatabase(Path(data_dir).expanduser() / SQLITE_FILE)


def open_store(store: str, data_dir: str, describer: Describer) -> IncidentStore:
    """The store the settings name (not opened yet: ``await store.open()``)."""
    return IncidentStore(database_for(store, data_dir), describer)


__all__ = ["IncidentStore", "database_for", "open_store"]
