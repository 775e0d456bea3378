"""The one SQLite connection a ``Store`` owns, its lock, and error translation."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from nb_agents.errors import DuplicateError, StoreError
from nb_agents.events import now
from nb_agents.store._private import private_file
from nb_agents.store._schema import migrate

__all__ = ["StoreBase", "dumps", "loads", "readable"]

log = logging.getLogger(__name__)

_BUSY_TIMEOUT_S = 30.0
# The same as json.dumps(obj, separators=(",", ":"), allow_nan=False), without building an
# encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_S = TypeVar("_S", bound="StoreBase")


def dumps(obj: Mapping[str, Any]) -> str:
    """Compact JSON for a stored body.

    Raises:
        ValueError: If the object is not JSON-serialisable (or holds NaN/infinity).
    """
    try:
        return _ENCODER.encode(obj)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot store a body that is not plain JSON: {exc}") from None


def loads(text: str) -> dict[str, Any]:
    """Parse a stored body.

    Raises:
        ValueError: The text is not a JSON object.
    """
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError(f"a stored body is a JSON object, not {type(body).__name__}")
    return body


def readable(
    rows: Iterable[tuple[Any, ...]], column: int, what: str
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """``(row, parsed body)`` for each row of a list whose body parses.

    A row that does not parse is logged and left out, so one damaged row never breaks a list.
    """
    for row in rows:
        try:
            yield row, loads(row[column])
        except (ValueError, TypeError, RecursionError) as exc:
            log.error("left a damaged %s row out of a list (row %s): %s", what, row[0], exc)


class StoreBase:
    """Connection handling shared by the parts of ``Store``.

    One connection per ``Store``, in autocommit mode, used from any thread under ``_lock``.
    Writes run in ``BEGIN IMMEDIATE`` transactions (``_write``); each read is one statement,
    hence one consistent snapshot.
    """

    path: Path
    """The SQLite file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._writes = 0
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            private_file(self.path)  # the WAL and SHM files SQLite makes take the file's mode
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the state file {self.path}: {exc}") from exc
        self._conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch the journal to WAL (got {mode!r})")
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.chmod(side, 0o600)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, self.path)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open the state file {self.path}: {exc}") from exc
            raise

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file (``PRAGMA user_version``)."""
        with self._read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def data_version(self) -> int:
        """A number that changes whenever any connection, in any process, has committed.

        ``PRAGMA data_version`` changes on commits by *other* connections; a local counter
        covers this one. Cheap: poll it to learn whether to look for new events.
        """
        with self._read() as conn:
            return int(conn.execute("PRAGMA data_version").fetchone()[0]) + self._writes

    def close(self) -> None:
        """Close the connection. Further calls raise ``StoreError``."""
        with self._lock:
            self._conn.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _translated(self.path):
            yield self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed (durably) on exit, rolled back on error."""
        with self._lock, _translated(self.path):
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._writes += 1

    # Tables whose rows are mutable wire objects deleted by tombstone (``deleted_at``).
    _TOMBSTONED = ("environments", "sessions")

    def _live_body(self, table: str, object_id: str) -> dict[str, Any] | None:
        """The body of a row that is not deleted, or ``None``."""
        assert table in self._TOMBSTONED
        with self._read() as conn:
            row = conn.execute(f"SELECT body FROM {table} WHERE id = ? AND deleted_at IS NULL", (object_id,)).fetchone()
        return None if row is None else loads(row[0])

    def _tombstone(self, table: str, object_id: str, what: str) -> None:
        """Mark a row deleted (once; the row stays). Raises StoreError for an unknown id."""
        assert table in self._TOMBSTONED
        with self._write() as conn:
            cur = conn.execute(
                f"UPDATE {table} SET deleted_at = coalesce(deleted_at, ?) WHERE id = ?", (now(), object_id)
            )
            if cur.rowcount == 0:
                raise StoreError(f"no {what} {object_id}")


@contextlib.contextmanager
def _translated(path: Path) -> Iterator[None]:
    """Turn ``sqlite3`` errors into ``StoreError`` (``DuplicateError`` for unique keys)."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        text = str(exc)
        if "UNIQUE constraint failed" in text or "PRIMARY KEY" in text:
            raise DuplicateError(f"already stored: {text}") from exc
        raise StoreError(f"{path}: {text}") from exc
    except sqlite3.ProgrammingError as exc:
        raise StoreError(f"{path}: {exc} (was the store closed?)") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: {exc}") from exc
