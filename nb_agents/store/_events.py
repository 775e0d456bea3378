"""The append-only event log: per-session sequence numbers, never updated or deleted."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nb_agents.errors import DuplicateError, StoreError
from nb_agents.events import now
from nb_agents.store._base import StoreBase, dumps, loads

__all__ = ["EventsMixin", "StoredEvent"]

log = logging.getLogger(__name__)

# COALESCE: a server event carries its own processed_at; a client event gets the one
# recorded later by mark_processed.
_SELECT = (
    "SELECT e.seq, e.session_id, e.id, e.type, coalesce(e.processed_at, p.processed_at), e.body, "
    "e.created_at FROM events e{} LEFT JOIN event_processed p ON p.event_id = e.id"
)
_SELECT_TYPED = _SELECT.format(" INDEXED BY events_type")
_MAX_TYPE_ARMS = 64  # SQLite's default limit on compound SELECT arms is 500
_SELECT = _SELECT.format("")


@dataclass(frozen=True)
class StoredEvent:
    """One event as stored.

    Attributes:
        seq: Position in its session's log: 1, 2, 3, ... with no gaps.
        session_id: The session.
        id: The event id (``sevt_...``).
        type: The wire type.
        processed_at: When it was processed; ``None`` for a client event still queued.
        body: The wire JSON object, with ``processed_at`` merged in.
        created_at: When the store appended it (RFC 3339, microseconds).
    """

    seq: int
    session_id: str
    id: str
    type: str
    processed_at: str | None
    body: dict[str, Any]
    created_at: str | None = None


def _row_to_event(row: tuple[Any, ...]) -> StoredEvent:
    seq, session_id, event_id, etype, processed_at, body, created_at = row
    parsed = loads(body)
    if processed_at is not None or "processed_at" in parsed:
        parsed["processed_at"] = processed_at
    return StoredEvent(int(seq), session_id, event_id, etype, processed_at, parsed, created_at)


class EventsMixin(StoreBase):
    """Events: append, mark processed, read. There is no way to change or remove one."""

    def append(self, session_id: str, events: Sequence[Mapping[str, Any]]) -> list[StoredEvent]:
        """Append events to a session's log in one durable transaction.

        Each event needs a string ``id`` and ``type``; ``processed_at`` may be missing or
        ``None``. The events are stored as given (not validated here).

        Returns:
            The stored events, with their ``seq`` (continuing the session's sequence).

        Raises:
            DuplicateError: An event id is already stored (or repeated in the batch); nothing
                from the batch is stored.
            ValueError: An event without a string ``id``/``type``, or not plain JSON.
        """
        rows: list[tuple[Any, ...]] = []
        for i, event in enumerate(events):
            event_id, etype = event.get("id"), event.get("type")
            if not isinstance(event_id, str) or not isinstance(etype, str):
                raise ValueError(f"event #{i} needs a string 'id' and 'type' (got {event_id!r}, {etype!r})")
            rows.append((event_id, etype, event.get("processed_at"), dumps(event)))
        if not rows:
            return []
        created_at = now()
        with self._write() as conn:
            last = conn.execute("SELECT max(seq) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0]
            first = int(last or 0) + 1
            try:
                conn.executemany(
                    "INSERT INTO events (session_id, seq, id, type, processed_at, created_at, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(session_id, first + i, *row[:3], created_at, row[3]) for i, row in enumerate(rows)],
                )
            except sqlite3.IntegrityError as exc:
                ids = [row[0] for row in rows]
                raise DuplicateError(
                    f"cannot append to {session_id}: an event id is already stored or repeated "
                    f"in the batch ({exc}); ids: {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}"
                ) from exc
        return [
            StoredEvent(first + i, session_id, event_id, etype, processed_at, loads(body), created_at)
            for i, (event_id, etype, processed_at, body) in enumerate(rows)
        ]

    def mark_processed(self, session_id: str, event_ids: Sequence[str], processed_at: str) -> None:
        """Record that queued client events were processed.

        Written to a separate append-only table, so event rows never change; reads merge it
        into ``body["processed_at"]``. The first time recorded for an event wins, and an event
        that was stored with its own ``processed_at`` keeps it.

        Raises:
            StoreError: If an id is not an event of this session.
        """
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return
        recorded_at = now()
        with self._write() as conn:
            marks = ", ".join("?" * len(ids))
            found = {
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM events WHERE session_id = ? AND id IN ({marks})", (session_id, *ids)
                )
            }
            missing = [i for i in ids if i not in found]
            if missing:
                raise StoreError(f"no event {', '.join(missing)} in session {session_id}")
            conn.executemany(
                "INSERT OR IGNORE INTO event_processed (event_id, session_id, processed_at, recorded_at) "
                "VALUES (?, ?, ?, ?)",
                [(event_id, session_id, processed_at, recorded_at) for event_id in ids],
            )

    def read(
        self,
        session_id: str,
        *,
        after_seq: int = 0,
        before_seq: int | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[StoredEvent]:
        """Read a session's events with ``after_seq < seq < before_seq``.

        Args:
            session_id: The session.
            after_seq: Only events after this seq (0: from the start).
            before_seq: Only events before this seq.
            types: Only events of these types (an empty collection matches nothing).
            limit: At most this many events (the first ones in ``order``).
            order: ``asc`` (oldest first) or ``desc``.
        """
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        bounds = "e.seq > ?" + (" AND e.seq < ?" if before_seq is not None else "")
        bound_params: list[Any] = [int(after_seq)] + ([int(before_seq)] if before_seq is not None else [])
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, got {limit!r}")
        tail = f" ORDER BY 1 {order.upper()}" + (f" LIMIT {int(limit):d}" if limit is not None else "")
        if types is None:
            sql = f"{_SELECT} WHERE e.session_id = ? AND {bounds}{tail}"
            params: list[Any] = [session_id, *bound_params]
        else:
            wanted = sorted(set(types))
            if not wanted:
                return []
            if len(wanted) <= _MAX_TYPE_ARMS:
                # One ordered scan of the (session_id, type, seq) index per type, merged by
                # SQLite (MERGE (UNION ALL)): fast for rare types, no sort even with a LIMIT.
                arm = f"{_SELECT_TYPED} WHERE e.session_id = ? AND e.type = ? AND {bounds}"
                sql = " UNION ALL ".join([arm] * len(wanted)) + tail
                params = [p for t in wanted for p in (session_id, t, *bound_params)]
            else:  # more types than SQLite allows compound SELECT arms: filter while scanning
                marks = ", ".join("?" * len(wanted))
                sql = f"{_SELECT} WHERE e.session_id = ? AND {bounds} AND e.type IN ({marks}){tail}"
                params = [session_id, *bound_params, *wanted]
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        events = []
        for row in rows:
            try:
                events.append(_row_to_event(row))
            except (ValueError, TypeError, RecursionError) as exc:  # a damaged row is logged and left out
                log.error("left a damaged event out of session %s (seq %s): %s", session_id, row[0], exc)
        return events

    def get_event(self, session_id: str, event_id: str) -> StoredEvent | None:
        """One event of a session by id, or ``None``."""
        with self._read() as conn:
            row = conn.execute(f"{_SELECT} WHERE e.id = ? AND e.session_id = ?", (event_id, session_id)).fetchone()
        return None if row is None else _row_to_event(row)

    def latest_seq(self, session_id: str) -> int:
        """The seq of a session's last event (0 if none): a cheap way to notice new events."""
        with self._read() as conn:
            value = conn.execute("SELECT max(seq) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0]
        return int(value or 0)

    def count_events(self, session_id: str) -> int:
        """How many events a session has."""
        with self._read() as conn:
            return int(conn.execute("SELECT count(*) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0])
