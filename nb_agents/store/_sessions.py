"""Sessions: one mutable row per session (the whole wire object), with a tombstone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from nb_agents.errors import DuplicateError, StoreError
from nb_agents.events import time_to_us
from nb_agents.store._base import StoreBase, dumps, readable
from nb_agents.store._paging import keyset_page

__all__ = ["SessionsMixin"]


def _derived(session: dict[str, Any]) -> dict[str, Any]:
    """The columns that follow a session body: what lists filter and order on."""
    agent = session.get("agent")
    if isinstance(agent, dict):
        agent_id, agent_version = agent.get("id"), agent.get("version")
    else:
        agent_id, agent_version = agent, None
    try:
        created_us = time_to_us(session["created_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"session {session.get('id')} needs an RFC 3339 'created_at': {exc}") from None
    return {
        "id": session["id"],
        "agent_id": agent_id,
        "agent_version": agent_version,
        "status": session.get("status"),
        "deployment_id": session.get("deployment_id"),
        "created_us": created_us,
        "updated_at": session.get("updated_at"),
        "archived_at": session.get("archived_at"),
        "body": dumps(session),
    }


class SessionsMixin(StoreBase):
    """Sessions; ``delete_session`` leaves a tombstone and keeps the events."""

    def insert_session(self, session: dict[str, Any]) -> None:
        """Store a new session (the whole wire ``Session`` object).

        Raises:
            DuplicateError: If its id is already stored (even if deleted).
        """
        row = _derived(session)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (row["id"],)).fetchone():
                raise DuplicateError(f"session {row['id']} is already stored")
            conn.execute(
                "INSERT INTO sessions (id, agent_id, agent_version, status, deployment_id, created_us, "
                "updated_at, archived_at, body) VALUES (:id, :agent_id, :agent_version, :status, "
                ":deployment_id, :created_us, :updated_at, :archived_at, :body)",
                row,
            )

    def update_session(self, session: dict[str, Any]) -> None:
        """Replace a session's body; status, agent, archived_at and updated_at follow it.

        Raises:
            StoreError: If there is no such session, or it was deleted.
        """
        row = _derived(session)
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE sessions SET agent_id = :agent_id, agent_version = :agent_version, status = :status, "
                "deployment_id = :deployment_id, updated_at = :updated_at, archived_at = :archived_at, "
                "body = :body WHERE id = :id AND deleted_at IS NULL",
                row,
            )
            if cur.rowcount == 0:
                raise StoreError(f"no session {row['id']}")

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """A session, or ``None`` if unknown or deleted."""
        return self._live_body("sessions", session_id)

    def delete_session(self, session_id: str) -> None:
        """Delete a session: a tombstone. Its events are kept (the log never loses anything).

        Raises:
            StoreError: If there is no such session. Deleting twice is a no-op.
        """
        self._tombstone("sessions", session_id, "session")

    def list_sessions(
        self,
        *,
        agent_id: str | None = None,
        agent_version: int | None = None,
        statuses: Sequence[str] | None = None,
        deployment_id: str | None = None,
        include_archived: bool = False,
        created_gt: str | None = None,
        created_gte: str | None = None,
        created_lt: str | None = None,
        created_lte: str | None = None,
        order: Literal["asc", "desc"] = "desc",
        after: int | None = None,
        before: int | None = None,
        limit: int = 20,
    ) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """Sessions that are not deleted, newest first unless ``order="asc"``.

        Args:
            agent_id: Only sessions of this agent.
            agent_version: Only sessions pinned to this agent version.
            statuses: Only sessions in one of these statuses (empty or ``None``: any).
            deployment_id: Only sessions of this deployment.
            include_archived: Also archived sessions.
            created_gt: Bounds on ``created_at`` (RFC 3339; compared as instants).
            created_gte: See ``created_gt``.
            created_lt: See ``created_gt``.
            created_lte: See ``created_gt``.
            order: ``desc`` (newest first, the API default) or ``asc``.
            after: A cursor: continue in the list's order after it.
            before: A cursor: the page just before it, in the list's order.
            limit: Page size.

        Returns:
            ``(page, next_cursor, prev_cursor)``; a cursor is ``None`` when there is nothing
            in that direction.
        """
        where = ["s.deleted_at IS NULL"]
        params: list[Any] = []
        for column, value in (
            ("agent_id", agent_id),
            ("agent_version", agent_version),
            ("deployment_id", deployment_id),
        ):
            if value is not None:
                where.append(f"s.{column} = ?")
                params.append(value)
        if statuses:  # None or empty: any status
            statuses = list(statuses)
            where.append(f"s.status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if not include_archived:
            where.append("s.archived_at IS NULL")
        for op, bound in ((">", created_gt), (">=", created_gte), ("<", created_lt), ("<=", created_lte)):
            if bound is not None:
                where.append(f"s.created_us {op} ?")
                params.append(time_to_us(bound))
        with self._read() as conn:
            page = keyset_page(
                conn, select="SELECT s.pos, s.body FROM sessions s", alias="s", table="sessions",
                where=where, params=params, order=order, after=after, before=before, limit=limit,
            )  # fmt: skip
        sessions = [body for _, body in readable(page.rows, 1, "session")]
        return sessions, page.next_cursor, page.prev_cursor
