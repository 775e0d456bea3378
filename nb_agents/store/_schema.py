"""The SQLite schema of the state file, and its migrations.

The version lives in ``PRAGMA user_version``. Opening a file runs, in one ``BEGIN IMMEDIATE``
transaction, every migration above the file's version; a file from a newer nb_agents is refused.
Version 0 is "no nb_agents schema yet" (a new or foreign file), so creating the schema is the
migration 0 → 1.

Timestamps are stored twice where they are filtered or ordered on: as the wire string and as
integer microseconds since the epoch (``*_us``), because RFC 3339 strings with different
fraction lengths or offsets do not compare correctly as text.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nb_agents.errors import SchemaVersionError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

_V1 = (
    # Agents: one immutable row per version; the ``agents`` row holds what is not versioned.
    """CREATE TABLE IF NOT EXISTS agents (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        latest_version INTEGER NOT NULL,
        archived_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS agents_created ON agents (created_us)",
    """CREATE TABLE IF NOT EXISTS agent_versions (
        id TEXT NOT NULL REFERENCES agents (id),
        version INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (id, version)
    ) WITHOUT ROWID""",
    """CREATE TRIGGER IF NOT EXISTS agent_versions_no_update BEFORE UPDATE ON agent_versions
        BEGIN SELECT RAISE(ABORT, 'agent versions are immutable'); END""",
    """CREATE TABLE IF NOT EXISTS environments (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        created_us INTEGER NOT NULL,
        archived_at TEXT,
        deleted_at TEXT,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS environments_created ON environments (created_us)",
    """CREATE TABLE IF NOT EXISTS sessions (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        agent_id TEXT,
        agent_version INTEGER,
        status TEXT,
        deployment_id TEXT,
        created_us INTEGER NOT NULL,
        updated_at TEXT,
        archived_at TEXT,
        deleted_at TEXT,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sessions_created ON sessions (created_us)",
    "CREATE INDEX IF NOT EXISTS sessions_agent ON sessions (agent_id, created_us)",
    "CREATE INDEX IF NOT EXISTS sessions_status ON sessions (status)",
    # Events: append-only. (session_id, seq) is the key; id is unique across the file.
    """CREATE TABLE IF NOT EXISTS events (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        processed_at TEXT,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS events_type ON events (session_id, type, seq)",
    """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END""",
    # When a queued client event was processed: a separate append-only table, so that
    # event rows never change.
    """CREATE TABLE IF NOT EXISTS event_processed (
        event_id TEXT PRIMARY KEY REFERENCES events (id),
        session_id TEXT NOT NULL,
        processed_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TRIGGER IF NOT EXISTS event_processed_no_update BEFORE UPDATE ON event_processed
        BEGIN SELECT RAISE(ABORT, 'event_processed is append-only: UPDATE is not allowed'); END""",
    """CREATE TRIGGER IF NOT EXISTS event_processed_no_delete BEFORE DELETE ON event_processed
        BEGIN SELECT RAISE(ABORT, 'event_processed is append-only: DELETE is not allowed'); END""",
)

MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1}
"""Statements that take a file from version ``n - 1`` to version ``n``."""

SCHEMA_VERSION = max(MIGRATIONS)
"""The schema version this nb_agents writes."""


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _check_not_newer(found: int, path: Path) -> None:
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has schema version {found}, but this nb_agents only knows versions up to "
            f"{SCHEMA_VERSION}: it was written by a newer nb_agents. Upgrade nb_agents, or point "
            "NB_AGENTS_HOME at another state directory."
        )


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the file up to ``SCHEMA_VERSION``; return the version it had before.

    The connection must be in autocommit mode (``isolation_level=None``). Safe when several
    processes open the same new file at once: the version is re-read under the write lock.

    Raises:
        SchemaVersionError: If the file was written by a newer nb_agents.
    """
    found = _user_version(conn)
    _check_not_newer(found, path)
    if found == SCHEMA_VERSION:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = _user_version(conn)
        _check_not_newer(found, path)
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found
